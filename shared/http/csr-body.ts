/**
 * Reading the CSR of `POST /enroll`: DER as `application/pkcs10` (RFC 5967, what `openssl req -outform DER`
 * writes and `curl --data-binary` sends), or `{"csr": "<PEM>"}` as `application/json`. Either way the
 * use-case gets one PEM block; the signature and the key are checked when it is signed.
 */
import type { HttpRequest } from '@azure/functions';
import { enrollBodySchema } from '../api/schemas.js';
import { InputError, PayloadTooLargeError, UnsupportedMediaTypeError } from '../errors.js';
import { parseInput } from './input-problems.js';
import { readJsonBody, readLimited } from './json-body.js';

export const PKCS10_CONTENT_TYPE = 'application/pkcs10';
/** Far above any real request (an RSA-4096 CSR is about 1.2 KB in DER). */
const MAX_CSR_BYTES = 16 * 1024;

const essenceOf = (contentType: string | null) =>
  (contentType ?? '').split(';')[0]?.trim().toLowerCase() ?? '';

function pemOf(der: Uint8Array): string {
  const lines =
    Buffer.from(der)
      .toString('base64')
      .match(/.{1,64}/g) ?? [];
  return `-----BEGIN CERTIFICATE REQUEST-----\n${lines.join('\n')}\n-----END CERTIFICATE REQUEST-----\n`;
}

/** The request's CSR as PEM; 400 / 413 / 415 problems as for any body. */
export async function readCsrBody(request: HttpRequest): Promise<string> {
  const contentType = request.headers.get('content-type');
  if (essenceOf(contentType) === PKCS10_CONTENT_TYPE) {
    const declared = Number(request.headers.get('content-length') ?? '0');
    if (Number.isFinite(declared) && declared > MAX_CSR_BYTES)
      throw new PayloadTooLargeError(`the CSR is larger than ${MAX_CSR_BYTES} bytes`);
    const der = await readLimited(request.body as ReadableStream<Uint8Array> | null, MAX_CSR_BYTES);
    // A DER SEQUENCE starts with 0x30; anything else (PEM text, say) is named as the wrong encoding.
    if (der.byteLength === 0 || der[0] !== 0x30)
      throw new InputError('the body is not a DER-encoded PKCS#10 request', [
        {
          path: '',
          message: `${PKCS10_CONTENT_TYPE} is DER (openssl req -outform DER); send PEM as JSON {"csr"}`,
        },
      ]);
    return pemOf(der);
  }
  if (contentType === null || essenceOf(contentType) === 'application/json') {
    const body = await readJsonBody(request);
    if (body === undefined)
      throw new InputError('the request has no CSR', [{ path: '/csr', message: 'required' }]);
    return parseInput(enrollBodySchema, body, 'body').csr;
  }
  throw new UnsupportedMediaTypeError(
    `content type '${contentType.slice(0, 100)}' is not supported: send ${PKCS10_CONTENT_TYPE} (DER) or application/json {"csr"}`,
  );
}
