import { describe, expect, it } from 'vitest';
import { API } from '../../../shared/api/routes.js';
import { openApiDocument } from '../../../shared/api/openapi.js';

interface Doc {
  openapi: string;
  paths: Record<string, Record<string, { operationId: string; responses: Record<string, unknown> }>>;
  components: { schemas: Record<string, unknown> };
}

function refsIn(value: unknown, out: string[] = []): string[] {
  if (Array.isArray(value)) value.forEach((v) => refsIn(v, out));
  else if (value && typeof value === 'object')
    for (const [k, v] of Object.entries(value)) {
      if (k === '$ref' && typeof v === 'string') out.push(v);
      else refsIn(v, out);
    }
  return out;
}

describe('openApiDocument', () => {
  const doc = openApiDocument() as unknown as Doc;

  it('is OpenAPI 3.1', () => {
    expect(doc.openapi).toBe('3.1.0');
  });

  it('documents every operation of the API table under its route and method', () => {
    const documented = Object.entries(doc.paths).flatMap(([path, methods]) =>
      Object.entries(methods).map(([method, o]) => `${method.toUpperCase()} ${path} ${o.operationId}`),
    );
    expect(documented.sort()).toStrictEqual(
      Object.values(API)
        .map((o) => `${o.method} /api/${o.route} ${o.operationId}`)
        .sort(),
    );
  });

  it('resolves every $ref to a component', () => {
    const refs = refsIn(doc);
    expect(refs.length).toBeGreaterThan(10);
    for (const ref of refs)
      expect(doc.components.schemas).toHaveProperty(ref.replace('#/components/schemas/', ''));
  });

  it('renders request bodies as input (defaults optional) and keeps the defaults', () => {
    const request = doc.components.schemas.putGatewayRequest as {
      required?: string[];
      properties: Record<string, { default?: unknown }>;
      additionalProperties: unknown;
    };
    expect(request.required ?? []).toStrictEqual([]);
    expect(request.properties.vpnSubnet?.default).toBe('10.140.0.0/24');
    expect(request.properties.port?.default).toBe(443);
    expect(request.additionalProperties).toBe(false);
  });

  it('documents the Operation-Location header on accepted operations', () => {
    const accepted = doc.paths['/api/gateways/{gateway}/restart']?.post?.responses['202'] as {
      headers: Record<string, unknown>;
    };
    expect(Object.keys(accepted.headers)).toStrictEqual(['Operation-Location']);
  });
});

describe('openApiDocument: POST /api/enroll', () => {
  const enroll = (openApiDocument() as { paths: Record<string, Record<string, Record<string, unknown>>> })
    .paths['/api/enroll']?.['post'];

  it('needs the enrollment token (HTTP bearer) instead of the function key, and takes DER or JSON', () => {
    expect(enroll?.['security']).toStrictEqual([{ enrollmentToken: [] }]);
    const body = enroll?.['requestBody'] as { content: Record<string, unknown> };
    expect(Object.keys(body.content)).toStrictEqual(['application/pkcs10', 'application/json']);
    expect(body.content['application/pkcs10']).toStrictEqual({
      schema: { type: 'string', contentMediaType: 'application/pkcs10' },
    });
    expect(Object.keys(enroll?.['responses'] as object)).toContain('401');
  });
});
