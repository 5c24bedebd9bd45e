import azureFunctions from '@azure/functions';
import type { HttpRequest } from '@azure/functions';
import { describe, expect, it } from 'vitest';
import { InputError, PayloadTooLargeError, UnsupportedMediaTypeError } from '../../../shared/errors.js';
import { MAX_BODY_BYTES, readJsonBody } from '../../../shared/http/json-body.js';

const { HttpRequest: Request } = azureFunctions;

function put(body: string | Uint8Array | undefined, headers: Record<string, string> = {}): HttpRequest {
  return new Request({
    method: 'PUT',
    url: 'http://localhost/api/gateways/g1',
    headers,
    ...(body === undefined
      ? {}
      : typeof body === 'string'
        ? { body: { string: body } }
        : { body: { bytes: body } }),
  });
}

describe('readJsonBody', () => {
  it('parses a JSON body', async () => {
    await expect(
      readJsonBody(put('{"port":443}', { 'content-type': 'application/json' })),
    ).resolves.toStrictEqual({
      port: 443,
    });
  });

  it('accepts application/json with charset utf-8', async () => {
    await expect(
      readJsonBody(put('{}', { 'content-type': 'application/json; charset=UTF-8' })),
    ).resolves.toStrictEqual({});
  });

  it('returns undefined for an absent body, with or without a content type', async () => {
    await expect(readJsonBody(put(undefined))).resolves.toBeUndefined();
    await expect(
      readJsonBody(put(undefined, { 'content-type': 'application/json' })),
    ).resolves.toBeUndefined();
  });

  it.each([
    ['text/plain', '{}'],
    ['application/x-www-form-urlencoded', 'a=b'],
    ['application/json; charset=latin1', '{}'],
    // A merge patch or JSON patch has semantics of its own: applying it as a full replacement is wrong.
    ['application/merge-patch+json', '{"port":444}'],
    ['application/json-patch+json', '[]'],
  ])('rejects content type %s with 415', async (type, body) => {
    await expect(readJsonBody(put(body, { 'content-type': type }))).rejects.toBeInstanceOf(
      UnsupportedMediaTypeError,
    );
  });

  it('rejects a body without a content type with 415', async () => {
    await expect(readJsonBody(put('{}'))).rejects.toBeInstanceOf(UnsupportedMediaTypeError);
  });

  it.each(['{', '{"a":}', 'nul', "{'a':1}"])('rejects malformed JSON %j with 400', async (text) => {
    const error = await readJsonBody(put(text, { 'content-type': 'application/json' })).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(InputError);
    expect((error as InputError).problems[0]?.path).toBe('');
  });

  it('rejects invalid UTF-8 with 400', async () => {
    const error = await readJsonBody(
      put(new Uint8Array([0x7b, 0x22, 0xff, 0x22, 0x7d]), { 'content-type': 'application/json' }),
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InputError);
  });

  it('rejects a declared Content-Length over the limit before reading', async () => {
    const request = put('{}', {
      'content-type': 'application/json',
      'content-length': String(MAX_BODY_BYTES + 1),
    });
    await expect(readJsonBody(request)).rejects.toBeInstanceOf(PayloadTooLargeError);
    expect(request.bodyUsed).toBe(false);
  });

  it('stops reading a streamed body at the limit', async () => {
    const big = `{"a":"${'x'.repeat(MAX_BODY_BYTES)}"}`;
    await expect(readJsonBody(put(big, { 'content-type': 'application/json' }))).rejects.toBeInstanceOf(
      PayloadTooLargeError,
    );
  });

  it('accepts a body of exactly the limit', async () => {
    const exact = `"${'x'.repeat(MAX_BODY_BYTES - 2)}"`;
    await expect(readJsonBody(put(exact, { 'content-type': 'application/json' }))).resolves.toHaveLength(
      MAX_BODY_BYTES - 2,
    );
  });
});
