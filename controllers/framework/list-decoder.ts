// Decodes a list response as its bytes arrive: each element of the top-level "items" array is
// parsed on its own once its closing brace is in, and the rest of the document (kind, apiVersion,
// metadata) is parsed at the end with "items" left empty. An informer's first list of 50,000
// CiliumEndpoints is ~50 MB of JSON: read whole, the body string, then the whole object graph
// lived at once (the graph outlives young-generation collections and is copied into the old one);
// item by item, each raw object is transformed and stored while the next bytes are still on the
// way, and becomes garbage young.
import { StringDecoder } from 'node:string_decoder';
import { FrameworkError, FrameworkErrorCode } from './errors.js';

const QUOTE = 34;
const BACKSLASH = 92;
const OPEN_BRACE = 123;
const CLOSE_BRACE = 125;
const OPEN_BRACKET = 91;
const CLOSE_BRACKET = 93;

/** A top-level key "items" right before the '[' being read. */
const ITEMS_KEY = /"items"\s*:\s*$/;

export class ListDecoder {
  private readonly utf8 = new StringDecoder('utf8');
  /** Nesting depth of objects and arrays at the scan position (the list object itself is 1). */
  private depth = 0;
  private inString = false;
  private escaped = false;
  /** Inside the top-level "items" array. */
  private inItems = false;
  /** The document without its items. */
  private envelope = '';
  /** The start of the item being read, carried over from earlier chunks. */
  private partial = '';
  private inItem = false;

  /** Takes the next bytes of the body; returns the items they completed, decoded. */
  write(chunk: Buffer): unknown[] {
    const s = this.utf8.write(chunk);
    const out: unknown[] = [];
    const n = s.length;
    // where the current envelope text or item text started in this chunk
    let from = 0;
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (c === BACKSLASH) this.escaped = true;
        else if (c === QUOTE) this.inString = false;
        continue;
      }
      if (c === QUOTE) {
        this.inString = true;
      } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
        if (this.inItems && this.depth === 2) {
          // an item begins: the envelope text before it (whitespace, commas) is dropped
          this.inItem = true;
          from = i;
        } else if (!this.inItems && this.depth === 1 && c === OPEN_BRACKET) {
          const before = this.envelope + s.slice(from, i);
          if (ITEMS_KEY.test(before.slice(-32))) {
            this.envelope = `${before}[`;
            this.inItems = true;
            from = i + 1;
          }
        }
        this.depth++;
      } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
        this.depth--;
        if (this.inItems && this.depth === 2 && this.inItem) {
          out.push(this.parseItem(this.partial + s.slice(from, i + 1)));
          this.partial = '';
          this.inItem = false;
          from = i + 1;
        } else if (this.inItems && this.depth === 1) {
          this.envelope += ']';
          this.inItems = false;
          from = i + 1;
        }
      }
    }
    if (this.inItem) this.partial += s.slice(from);
    else if (!this.inItems) this.envelope += s.slice(from);
    return out;
  }

  /** The list without its items (they were returned by write), once the body ended. */
  end(): Record<string, unknown> {
    const rest = this.utf8.end();
    if (rest) this.envelope += rest;
    if (this.depth !== 0 || this.inString || this.inItems) {
      throw new FrameworkError(FrameworkErrorCode.Network, 'the list response ended before its JSON did');
    }
    try {
      return JSON.parse(this.envelope) as Record<string, unknown>;
    } catch (e) {
      throw new FrameworkError(FrameworkErrorCode.Network, `the list response is not JSON: ${(e as Error).message}`, {
        cause: e,
      });
    }
  }

  private parseItem(text: string): unknown {
    try {
      return JSON.parse(text);
    } catch (e) {
      throw new FrameworkError(FrameworkErrorCode.Network, `a list item is not JSON: ${(e as Error).message}`, {
        cause: e,
      });
    }
  }
}
