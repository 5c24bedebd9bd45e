/**
 * `GET /api/openapi.json`: the OpenAPI 3.1 document, generated with zod 4's `z.toJSONSchema` from the
 * same schemas the handlers validate with, for every operation of the API table (`routes.ts`).
 * Request bodies are rendered as the schema's input (fields with defaults are optional), responses as
 * its output.
 */
import { z } from 'zod';
import { VERSION } from '../version.js';
import type { ApiOperation } from './routes.js';
import { API, ERROR_STATUSES } from './routes.js';
import { problemSchema } from './schemas.js';

type JsonObject = Record<string, unknown>;

const COMPONENT = (id: string) => `#/components/schemas/${id}`;

/** Names components after the operation that uses them (`putGatewayRequest`, `getGateway200`). */
function componentId(operation: ApiOperation, suffix: string): string {
  return `${operation.operationId}${suffix}`;
}

function strip(schema: unknown): JsonObject {
  const { $schema: _schema, $id: _id, ...rest } = schema as JsonObject;
  return rest;
}

/** Registers each schema once (the same schema object reused by several operations keeps its first id). */
function collect(operations: readonly ApiOperation[]): {
  inputs: z.core.$ZodRegistry<{ id: string }>;
  outputs: z.core.$ZodRegistry<{ id: string }>;
} {
  const inputs = z.registry<{ id: string }>();
  const outputs = z.registry<{ id: string }>();
  const RESPONSE_NAMES = new Map<z.ZodType, string>();
  outputs.add(problemSchema, { id: 'Problem' });
  for (const o of operations) {
    if (o.body && !inputs.has(o.body)) inputs.add(o.body, { id: componentId(o, 'Request') });
    for (const [mediaType, schema] of Object.entries(o.rawBody?.mediaTypes ?? {}))
      if (schema !== 'binary' && !inputs.has(schema))
        inputs.add(schema, {
          id: componentId(o, mediaType === 'application/json' ? 'Request' : 'RequestBody'),
        });
    for (const [status, r] of Object.entries(o.responses)) {
      if (r.body instanceof z.ZodType && !outputs.has(r.body)) {
        const id = RESPONSE_NAMES.get(r.body) ?? componentId(o, status);
        RESPONSE_NAMES.set(r.body, id);
        outputs.add(r.body, { id });
      }
    }
  }
  return { inputs, outputs };
}

function schemasOf(registry: z.core.$ZodRegistry<{ id: string }>, io: 'input' | 'output'): JsonObject {
  const { schemas } = z.toJSONSchema(registry, { io, target: 'draft-2020-12', uri: COMPONENT });
  return Object.fromEntries(Object.entries(schemas).map(([id, s]) => [id, strip(s)]));
}

function parameters(o: ApiOperation): JsonObject[] {
  const list: JsonObject[] = [];
  for (const [where, schema] of [
    ['path', o.params],
    ['query', o.query],
  ] as const) {
    if (!schema) continue;
    for (const [name, field] of Object.entries(schema.shape) as [string, z.ZodType][]) {
      const json = strip(z.toJSONSchema(field, { io: 'input', target: 'draft-2020-12' }));
      list.push({
        name,
        in: where,
        required: where === 'path' || !field.safeParse(undefined).success,
        schema: json,
      });
    }
  }
  return list;
}

const HEADER_DOCS: Record<string, JsonObject> = {
  Location: { description: 'URL of the created resource', schema: { type: 'string', format: 'uri' } },
  'Operation-Location': {
    description: 'URL of the long-running operation to poll (GET /api/operations/{id})',
    schema: { type: 'string', format: 'uri' },
  },
};

function responses(o: ApiOperation, outputs: z.core.$ZodRegistry<{ id: string }>): JsonObject {
  const out: JsonObject = {};
  for (const [status, r] of Object.entries(o.responses)) {
    let content: JsonObject | undefined;
    if (r.body instanceof z.ZodType) {
      const id = outputs.get(r.body)?.id ?? 'Problem';
      content = { 'application/json': { schema: { $ref: COMPONENT(id) } } };
    } else if (r.body) {
      content = {
        [r.body.mediaType]: {
          schema:
            r.body.format === 'binary'
              ? { type: 'string', contentMediaType: r.body.mediaType }
              : { type: 'string' },
        },
      };
    } else if (o.operationId === 'getOpenApi') {
      content = { 'application/json': { schema: { type: 'object' } } };
    }
    out[status] = {
      description: r.description,
      ...(content ? { content } : {}),
      ...(r.headers?.length
        ? { headers: Object.fromEntries(r.headers.map((h) => [h, HEADER_DOCS[h]])) }
        : {}),
    };
  }
  if (o.authLevel !== 'anonymous' || o.credential !== undefined)
    for (const status of ERROR_STATUSES)
      out[status] = {
        description: PROBLEM_DESCRIPTIONS[status],
        content: { 'application/problem+json': { schema: { $ref: COMPONENT('Problem') } } },
        ...(status === 503
          ? { headers: { 'Retry-After': { description: 'Seconds to wait', schema: { type: 'integer' } } } }
          : {}),
      };
  return out;
}

const PROBLEM_DESCRIPTIONS: Record<(typeof ERROR_STATUSES)[number], string> = {
  400: 'Invalid input (malformed JSON, schema or domain validation); `errors[]` lists each field',
  401: 'Unauthenticated (roles enabled and no client principal; for POST /api/enroll: any token that does not enroll)',
  403: 'The caller lacks the required app role',
  404: 'No such gateway, client or operation',
  409: 'Conflicts with the current state (duplicate name, client in use, concurrent change)',
  413: 'Body larger than 1 MiB',
  415: 'Body is not application/json',
  500: 'Unexpected error (details only in the server log, under requestId)',
  502: 'A dependency failed',
  503: 'A dependency is temporarily unavailable (see Retry-After)',
};

/** A request body the route reads itself, in each of the media types it accepts. */
function rawRequestBody(
  raw: NonNullable<ApiOperation['rawBody']>,
  inputs: z.core.$ZodRegistry<{ id: string }>,
): JsonObject {
  return {
    required: true,
    description: raw.description,
    content: Object.fromEntries(
      Object.entries(raw.mediaTypes).map(([mediaType, schema]) => [
        mediaType,
        {
          schema:
            schema === 'binary'
              ? { type: 'string', contentMediaType: mediaType }
              : { $ref: COMPONENT(inputs.get(schema)?.id ?? '') },
        },
      ]),
    ),
  };
}

let cached: JsonObject | undefined;

/** The OpenAPI 3.1 document of every route of the API table (built once). */
export function openApiDocument(): JsonObject {
  if (cached) return cached;
  const operations: readonly ApiOperation[] = Object.values(API);
  const { inputs, outputs } = collect(operations);
  const paths: Record<string, JsonObject> = {};
  for (const o of operations) {
    const path = `/api/${o.route}`;
    const params = parameters(o);
    paths[path] = {
      ...paths[path],
      [o.method.toLowerCase()]: {
        operationId: o.operationId,
        summary: o.summary,
        tags: [o.tag],
        ...(o.authLevel === 'anonymous'
          ? { security: o.credential === 'enrollment-token' ? [{ enrollmentToken: [] }] : [] }
          : {}),
        ...(o.role ? { 'x-required-role': o.role } : {}),
        ...(params.length > 0 ? { parameters: params } : {}),
        ...(o.body
          ? {
              requestBody: {
                required: !o.bodyOptional,
                content: {
                  'application/json': { schema: { $ref: COMPONENT(inputs.get(o.body)?.id ?? '') } },
                },
              },
            }
          : {}),
        ...(o.rawBody ? { requestBody: rawRequestBody(o.rawBody, inputs) } : {}),
        responses: responses(o, outputs),
      },
    };
  }
  cached = {
    openapi: '3.1.0',
    info: {
      title: 'aks-vpn-gateways',
      version: VERSION,
      description:
        'Provisions OpenVPN gateways on AKS. Errors are application/problem+json (RFC 9457). ' +
        'When AUTH_ROLES_ENABLED, each operation needs the Entra app role in x-required-role.',
    },
    jsonSchemaDialect: 'https://spec.openapis.org/oas/3.1/dialect/base',
    servers: [{ url: '/' }],
    security: [{ functionKey: [] }],
    paths,
    components: {
      schemas: { ...schemasOf(outputs, 'output'), ...schemasOf(inputs, 'input') },
      securitySchemes: {
        functionKey: { type: 'apiKey', in: 'header', name: 'x-functions-key' },
        enrollmentToken: {
          type: 'http',
          scheme: 'bearer',
          description:
            'One-time enrollment token `<gateway>.<id>.<secret>` from POST …/enrollments (POST /api/enroll only)',
        },
      },
    },
  };
  return cached;
}
