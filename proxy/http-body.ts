// HTTP/1.1 message bodies by their framing (RFC 9112 §6.3, §7.1): a known length, or chunked
// coding decoded as the bytes arrive (chunk extensions skipped, trailer fields dropped). Shared by
// the request parser (http-request-parser.ts) and the response parser (http-upstream.ts): both
// sides frame bodies again for the other, never pass the coding through.
import { BodyFramingError } from './errors.js';

const CRLF = Buffer.from('\r\n');
const EMPTY = Buffer.alloc(0);
/* eslint-disable-next-line no-control-regex -- control characters are what it refuses */
const CHUNK_SIZE = /^([0-9a-fA-F]{1,8})[\t ]*(?:;[^\x00-\x08\x0a-\x1f\x7f]*)?$/;
/** The longest chunk size line (size and extensions) read. */
const MAX_CHUNK_LINE = 1024;

export class BodyDecoder {
  private state: 'length' | 'chunk-size' | 'chunk-data' | 'chunk-crlf' | 'trailer' | 'done' = 'done';
  private remaining = 0;

  constructor(
    /** the largest trailer section, bytes */
    private readonly maxTrailerBytes: number,
  ) {}

  /** Begins a body of `length` bytes (more than 0) or a chunked one. */
  start(body: number | 'chunked'): void {
    this.state = body === 'chunked' ? 'chunk-size' : 'length';
    this.remaining = body === 'chunked' ? 0 : body;
  }

  /** The body has ended (or none was started). */
  get done(): boolean {
    return this.state === 'done';
  }

  /**
   * Decodes what `buf` holds of the body, handing the payload to `data`; returns the bytes it did
   * not consume: those past the body's end, or a partial size line or trailer to read again with more.
   */
  read(buf: Buffer, data: (c: Buffer) => void): Buffer {
    for (;;) {
      switch (this.state) {
        case 'length':
        case 'chunk-data': {
          if (!buf.length) return buf;
          const take = Math.min(this.remaining, buf.length);
          const part = take === buf.length ? buf : buf.subarray(0, take);
          buf = buf.subarray(take);
          this.remaining -= take;
          data(part);
          if (this.remaining === 0) this.state = this.state === 'length' ? 'done' : 'chunk-crlf';
          break;
        }
        case 'chunk-size': {
          const eol = buf.indexOf(CRLF);
          if (eol < 0) {
            if (buf.length > MAX_CHUNK_LINE) throw new BodyFramingError(false, 'chunk size line too long');
            return buf;
          }
          const m = CHUNK_SIZE.exec(buf.toString('latin1', 0, eol));
          if (!m) throw new BodyFramingError(false, 'malformed chunk size');
          buf = buf.subarray(eol + 2);
          this.remaining = parseInt(m[1]!, 16);
          this.state = this.remaining === 0 ? 'trailer' : 'chunk-data';
          break;
        }
        case 'chunk-crlf':
          if (buf.length < 2) return buf;
          if (buf[0] !== 13 || buf[1] !== 10) throw new BodyFramingError(false, 'chunk not followed by CRLF');
          buf = buf.subarray(2);
          this.state = 'chunk-size';
          break;
        case 'trailer': {
          // trailer fields are dropped; an empty line ends the body. `remaining` counts their bytes
          const eol = buf.indexOf(CRLF);
          if (eol < 0) {
            if (this.remaining + buf.length > this.maxTrailerBytes)
              throw new BodyFramingError(true, 'trailer section too large');
            return buf;
          }
          this.remaining += eol + 2;
          if (this.remaining > this.maxTrailerBytes) throw new BodyFramingError(true, 'trailer section too large');
          buf = buf.subarray(eol + 2);
          if (eol === 0) {
            this.state = 'done';
            this.remaining = 0;
          }
          break;
        }
        case 'done':
          return buf.length ? buf : EMPTY;
      }
    }
  }
}
