/**
 * The logger every layer takes. Fields are structured; never put secret material (keys, profiles) in them.
 * In Azure the InvocationContext's log methods back it; elsewhere the console.
 */
import type { InvocationContext } from '@azure/functions';

export interface Logger {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

/** A logger writing one JSON line per entry to the console. */
export function consoleLogger(base: Record<string, unknown> = {}): Logger {
  const write = (level: string, message: string, fields?: Record<string, unknown>) =>
    console.log(JSON.stringify({ time: new Date().toISOString(), level, message, ...base, ...fields }));
  return {
    info: (m, f) => write('info', m, f),
    warn: (m, f) => write('warn', m, f),
    error: (m, f) => write('error', m, f),
  };
}

/** A Logger writing through the invocation context (Application Insights in Azure, console elsewhere). */
export function contextLogger(context: InvocationContext, base: Record<string, unknown> = {}): Logger {
  const line = (message: string, fields?: Record<string, unknown>) =>
    JSON.stringify({ message, invocationId: context.invocationId, ...base, ...fields });
  return {
    info: (m, f) => context.info(line(m, f)),
    warn: (m, f) => context.warn(line(m, f)),
    error: (m, f) => context.error(line(m, f)),
  };
}
