/**
 * Reading a request's JSON body: content type, size limit (never buffering past it), UTF-8 and syntax,
 * each refused with its own status before any schema sees the value.
 */
import type { HttpRequest } from '@azure/functions';
import { InputError, PayloadTooLargeError, UnsupportedMediaTypeError } from '../errors.js';

/** Largest request body accepted (1 MiB); larger bodies get 413 without being read further. */
export const MAX_BODY_BYTES = 1024 * 1024;
export const JSON_CONTENT_TYPE = 'application/json';

/**
 * Only `application/json`: other `+json` types carry semantics of their own (a merge patch, a JSON
 * patch) that the API does not implement, so treating them as a full replacement would be wrong.
 */
function isJsonMediaType(contentType: string): boolean {
  const [essence = '', ...params] = contentType.split(';').map((p) => p.trim().toLowerCase());
  if (essence !== JSON_CONTENT_TYPE) return false;
  const charset = params.find((p) => p.startsWith('charset='))?.slice('charset='.length);
  return charset === undefined || charset.replace(/"/g, '') === 'utf-8';
}

/** Reads a body stream, refusing (413) as soon as it grows past `maxBytes`; never buffers more. */
export async function readLimited(
  body: ReadableStream<Uint8Array> | null,
  maxBytes: number,
): Promise<Uint8Array> {
  if (!body) return new Uint8Array(0);
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel().catch(() => undefined);
      throw new PayloadTooLargeError(`the request body is larger than ${maxBytes} bytes`);
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const c of chunks) {
    bytes.set(c, offset);
    offset += c.byteLength;
  }
  return bytes;
}

/**
 * The request's JSON body, or undefined when it has none. 413 past `maxBytes` (checked on
 * Content-Length first, then while streaming), 415 unless `application/json` in UTF-8,
 * 400 when the bytes are not UTF-8 JSON.
 */
export async function readJsonBody(request: HttpRequest, maxBytes = MAX_BODY_BYTES): Promise<unknown> {
  const declared = Number(request.headers.get('content-length') ?? '0');
  if (Number.isFinite(declared) && declared > maxBytes)
    throw new PayloadTooLargeError(`the request body is larger than ${maxBytes} bytes`);
  const contentType = request.headers.get('content-type');
  if (contentType !== null && !isJsonMediaType(contentType))
    throw new UnsupportedMediaTypeError(
      `content type '${contentType.slice(0, 100)}' is not supported: send application/json (UTF-8)`,
    );
  const bytes = await readLimited(request.body as ReadableStream<Uint8Array> | null, maxBytes);
  if (bytes.byteLength === 0) return undefined;
  if (contentType === null)
    throw new UnsupportedMediaTypeError('the request has a body but no content type: send application/json');
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch (e: unknown) {
    throw new InputError('the body is not valid UTF-8', [{ path: '', message: 'not valid UTF-8' }], {
      cause: e,
    });
  }
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch (e: unknown) {
    const reason = e instanceof Error ? e.message : 'syntax error';
    throw new InputError('the body is not valid JSON', [{ path: '', message: reason }], { cause: e });
  }
}
