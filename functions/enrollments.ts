import { API } from '../shared/api/routes.js';
import { bearerToken, parseEnrollmentToken } from '../shared/gateways/enrollment-token.js';
import { readCsrBody } from '../shared/http/csr-body.js';
import type { RouteDefinition } from '../shared/http/route.js';
import { absoluteUrl, defineRoute, json } from '../shared/http/route.js';

const enrollmentPath = (gateway: string, id: string) =>
  `/api/gateways/${encodeURIComponent(gateway)}/enrollments/${encodeURIComponent(id)}`;

/**
 * The address a request came from: the last `X-Forwarded-For` entry, the one the platform's front end added
 * (earlier entries are whatever the caller sent). Only address characters are kept, it is only recorded.
 */
function requestSource(forwardedFor: string | null): string | undefined {
  const last = forwardedFor?.split(',').pop()?.trim() ?? '';
  return /^[0-9A-Fa-f.:[\]]{1,64}$/.test(last) ? last : undefined;
}

/**
 * POST /api/gateways/{gateway}/enrollments: 201 + the token (in this answer only) + the enrollment URL,
 * which carries the gateway's key type for the branch script (`?keyType=`).
 */
const createEnrollmentRoute: RouteDefinition = defineRoute(
  API.createEnrollment,
  async ({ params, body }, call) => {
    call.auditClient(body.client);
    const { enrollment, token } = await call.useCases.createEnrollment(
      await call.deps(),
      params.gateway,
      body,
    );
    const enrollUrl = absoluteUrl(call.request, `/api/enroll?keyType=${enrollment.keyType}`);
    return json(
      201,
      { ...enrollment, token, enrollUrl },
      {
        location: absoluteUrl(call.request, enrollmentPath(params.gateway, enrollment.id)),
        'cache-control': 'no-store',
      },
    );
  },
);

/** GET /api/gateways/{gateway}/enrollments */
const listEnrollmentsRoute: RouteDefinition = defineRoute(API.listEnrollments, async ({ params }, call) =>
  json(200, { value: await call.useCases.listEnrollments(await call.deps(), params.gateway) }),
);

/** GET /api/gateways/{gateway}/enrollments/{id} */
const getEnrollmentRoute: RouteDefinition = defineRoute(API.getEnrollment, async ({ params }, call) =>
  json(200, await call.useCases.getEnrollment(await call.deps(), params.gateway, params.id)),
);

/** DELETE /api/gateways/{gateway}/enrollments/{id}: 204. */
const revokeEnrollmentRoute: RouteDefinition = defineRoute(API.revokeEnrollment, async ({ params }, call) => {
  await call.useCases.revokeEnrollment(await call.deps(), params.gateway, params.id);
  return { status: 204 };
});

/**
 * POST /api/enroll: no function key, no app role; the bearer token is the credential. The audit line names
 * the enrollment the token claims (gateway and id), never the token.
 */
const enrollRoute: RouteDefinition = defineRoute(API.enroll, async (_input, call) => {
  const token = bearerToken(call.request.headers.get('authorization')) ?? '';
  const claimed = parseEnrollmentToken(token);
  call.auditCaller(claimed ? `enrollment ${claimed.id}` : 'enrollment token (malformed)', claimed?.gateway);
  const result = await call.useCases.enrollBranch(await call.deps(), {
    token,
    csr: () => readCsrBody(call.request),
    from: requestSource(call.request.headers.get('x-forwarded-for')),
  });
  call.auditClient(result.client);
  return {
    status: 200,
    body: result.profile,
    headers: {
      'content-type': 'application/x-openvpn-profile',
      'content-disposition': `attachment; filename="${result.gateway}-${result.client}.ovpn"`,
      'cache-control': 'no-store',
    },
  };
});

export const enrollmentRoutes: readonly RouteDefinition[] = [
  createEnrollmentRoute,
  listEnrollmentsRoute,
  getEnrollmentRoute,
  revokeEnrollmentRoute,
  enrollRoute,
];
