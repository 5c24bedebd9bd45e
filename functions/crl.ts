import type { HttpResponseInit } from '@azure/functions';
import { API } from '../shared/api/routes.js';
import type { RouteDefinition } from '../shared/http/route.js';
import { defineRoute } from '../shared/http/route.js';

/** The DER bytes of a PEM "X509 CRL" block. */
export function crlPemToDer(pem: string): Uint8Array {
  const base64 = pem.replace(/-----(BEGIN|END) X509 CRL-----/g, '').replace(/\s+/g, '');
  return new Uint8Array(Buffer.from(base64, 'base64'));
}

/**
 * GET /api/gateways/{gateway}/crl: `application/pkix-crl` is DER (RFC 2585); a caller that wants the
 * PEM OpenVPN reads asks with `Accept: application/x-pem-file`.
 */
const getCrlRoute: RouteDefinition = defineRoute(
  API.getCrl,
  async ({ params }, call): Promise<HttpResponseInit> => {
    const pem = await call.useCases.getCrl(await call.deps(), params.gateway);
    const wantsPem = (call.request.headers.get('accept') ?? '').includes('application/x-pem-file');
    return wantsPem
      ? { status: 200, body: pem, headers: { 'content-type': 'application/x-pem-file' } }
      : {
          status: 200,
          body: crlPemToDer(pem),
          headers: {
            'content-type': 'application/pkix-crl',
            'content-disposition': `attachment; filename="${params.gateway}.crl"`,
          },
        };
  },
);

export const crlRoutes: readonly RouteDefinition[] = [getCrlRoute];
