/**
 * The audit trail: every write the API is asked for (any method but GET and HEAD) is logged as ONE
 * structured event, whatever its outcome, by the route wrapper (route.ts). The event names who
 * asked (the Entra principal's name or app id when App Service Authentication fronts the app, else "function
 * key"), what (the operation id), the gateway and client it concerns, and the outcome; never a body, a
 * header value or key material. In Azure it lands in Application Insights' `traces`:
 *
 *   traces | where message startswith '{"message":"audit"'
 *   | extend audit = parse_json(message).audit
 *   | project timestamp, audit.who, audit.operation, audit.gateway, audit.client, audit.outcome, audit.status
 */
import type { Principal } from '../auth.js';

/** First field of every audit line: what a log query filters on. */
export const AUDIT_MESSAGE = 'audit';

export interface AuditEvent {
  /** The caller: principal name, `app <client id>`, or `function key` when roles are off. */
  readonly who: string;
  readonly operation: string;
  readonly method: string;
  readonly gateway?: string | undefined;
  readonly client?: string | undefined;
  /** `succeeded` (2xx/3xx), `refused` (4xx: nothing changed), `failed` (5xx). */
  readonly outcome: 'succeeded' | 'refused' | 'failed';
  readonly status: number;
  readonly invocationId: string;
}

/** Whether a request asks for a change (and so is audited). */
export function isWrite(method: string): boolean {
  return method !== 'GET' && method !== 'HEAD' && method !== 'OPTIONS';
}

/** Who the caller is, for the audit trail. `principal` is only ever one App Service Authentication vouched for. */
export function auditCaller(principal: Principal | undefined): string {
  if (principal?.name) return principal.name;
  if (principal?.appId) return `app ${principal.appId}`;
  return principal ? 'authenticated principal without a name' : 'function key';
}

export function outcomeOf(status: number): AuditEvent['outcome'] {
  return status >= 500 ? 'failed' : status >= 400 ? 'refused' : 'succeeded';
}

/** The one log line of an audit event (JSON, so Application Insights can parse it). */
export function auditLine(event: AuditEvent): string {
  const { who, operation, method, gateway, client, outcome, status, invocationId } = event;
  return JSON.stringify({
    message: AUDIT_MESSAGE,
    audit: { who, operation, method, gateway, client, outcome, status, invocationId },
  });
}
