// HTTP plumbing: reading bodies (JSON, YAML, the protobuf envelope), writing JSON and Status
// responses, and the Warning header kubectl prints.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parse as parseYaml } from 'yaml';
import { ApiError, badRequest, internal, tooLarge, unsupportedMediaType } from './errors.js';
import { decodeProtobuf, PROTOBUF } from './protobuf.js';

const MAX_BODY = 32 * 1024 * 1024;

export async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > MAX_BODY) throw tooLarge();
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks);
}

export function mediaType(req: IncomingMessage): string {
  return (req.headers['content-type'] ?? 'application/json').split(';')[0]?.trim().toLowerCase() ?? 'application/json';
}

/** Decodes a request body by its Content-Type (object writes and DeleteOptions). */
export function decodeBody(req: IncomingMessage, body: Buffer): unknown {
  const ct = mediaType(req);
  if (!body.length) return undefined;
  if (ct === PROTOBUF) return decodeProtobuf(body);
  const text = body.toString('utf8');
  try {
    if (ct === 'application/yaml' || ct === 'application/apply-patch+yaml' || ct === 'text/yaml')
      return parseYaml(text);
    if (ct.startsWith('application/') && ct.includes('json')) return JSON.parse(text);
    if (ct === '*/*' || ct === 'text/plain') return JSON.parse(text);
  } catch (e) {
    throw badRequest(`error decoding request body: ${e instanceof Error ? e.message : String(e)}`);
  }
  throw unsupportedMediaType(ct, ['application/json', 'application/yaml', PROTOBUF]);
}

export function sendJson(
  res: ServerResponse,
  code: number,
  body: unknown,
  headers: Record<string, string | string[]> = {},
): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(code, {
    'Content-Type': 'application/json',
    'Cache-Control': 'no-cache, private',
    ...headers,
    'Content-Length': Buffer.byteLength(text),
  });
  res.end(text);
}

export function sendError(res: ServerResponse, err: unknown): ApiError {
  const e = err instanceof ApiError ? err : internal(err);
  if (!res.headersSent) sendJson(res, e.status, e.toStatus());
  else res.end();
  return e;
}

/** `Warning: 299 - "<text>"` headers, as kube-apiserver sends for Warn-mode unknown fields. */
export function warningHeaders(warnings: string[]): Record<string, string[]> {
  if (!warnings.length) return {};
  return { Warning: warnings.map((w) => `299 - ${JSON.stringify(w)}`) };
}
