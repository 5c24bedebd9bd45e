/**
 * What may reach a log: PEM blocks and inline keys are removed from every error message and stack
 * written for a failed request, so no key, certificate or profile material ends up in the logs.
 */

const PEM_BLOCK = /-----BEGIN [A-Z0-9 ]+-----[\s\S]*?(-----END [A-Z0-9 ]+-----|$)/g;

/** Removes PEM blocks (keys, certificates, CSRs, profiles' inline material) from text bound for a log. */
export function redactSecrets(text: string): string {
  return text.replace(PEM_BLOCK, '[redacted PEM]').replace(/<key>[\s\S]*?(<\/key>|$)/g, '[redacted key]');
}

/** Log fields describing an error and its cause chain, with secret material removed. */
export function errorLogFields(e: unknown): Record<string, unknown> {
  const chain: { name: string; message: string }[] = [];
  let current: unknown = e;
  for (let depth = 0; current !== undefined && current !== null && depth < 5; depth += 1) {
    if (current instanceof Error) {
      chain.push({ name: current.name, message: redactSecrets(current.message) });
      current = current.cause;
    } else {
      chain.push({
        name: typeof current,
        message: redactSecrets(typeof current === 'string' ? current : (JSON.stringify(current) ?? '')),
      });
      break;
    }
  }
  const stack = e instanceof Error && e.stack ? redactSecrets(e.stack) : undefined;
  return { error: chain[0], causes: chain.slice(1), ...(stack ? { stack } : {}) };
}
