/**
 * Handler-test doubles: use-cases that record their calls and answer from a script, and an ApiContext
 * that hands them out. The real use-cases are exercised by the API tests through the sandbox.
 */
import type { ApiContext } from '../../shared/http/route.js';
import type { Config } from '../../shared/config.js';
import { loadConfig } from '../../shared/config.js';
import type { GatewayUseCases } from '../../shared/gateways/api-use-cases.js';
import type { GatewayDeps } from '../../shared/gateways/deps.js';
import type { Operation, OperationsPort } from '../../shared/model/operations-port.js';

export type UseCaseName = keyof GatewayUseCases;

export interface UseCaseCall {
  readonly name: UseCaseName;
  /** Arguments after `deps`. */
  readonly args: readonly unknown[];
}

/** Operations known by id; nothing is started. */
export class FixedOperations implements OperationsPort {
  constructor(private readonly known: readonly Operation[] = []) {}
  startRoll(): Promise<string> {
    return Promise.resolve('op-roll');
  }
  resumeRoll(): Promise<string | undefined> {
    return Promise.resolve(undefined);
  }
  startLiveApply(): Promise<string> {
    return Promise.resolve('op-live-apply');
  }
  startProvision(): Promise<string> {
    return Promise.resolve('op-provision');
  }
  startDeletion(): Promise<string> {
    return Promise.resolve('op-delete');
  }
  getOperation(id: string): Promise<Operation | undefined> {
    return Promise.resolve(this.known.find((o) => o.id === id));
  }
}

/**
 * Use-cases whose results come from `answers` (a value, or an Error to throw); every call is recorded.
 */
export function scriptedUseCases(
  answers: Partial<Record<UseCaseName, unknown>>,
  calls: UseCaseCall[],
): GatewayUseCases {
  const make =
    (name: UseCaseName) =>
    (_deps: GatewayDeps, ...args: unknown[]): Promise<unknown> => {
      calls.push({ name, args });
      const answer = answers[name];
      if (answer instanceof Error) return Promise.reject(answer);
      if (answer === undefined) return Promise.reject(new Error(`no scripted answer for ${name}`));
      return Promise.resolve(answer);
    };
  const names: UseCaseName[] = [
    'putGateway',
    'getGateway',
    'listGateways',
    'deleteGateway',
    'restartGateway',
    'issueClient',
    'getClient',
    'listClients',
    'getClientProfile',
    'revokeClient',
    'getClientSubnets',
    'replaceClientSubnets',
    'getCrl',
    'listConnections',
    'getPortMappings',
    'replacePortMappings',
    'getOperation',
  ];
  return Object.fromEntries(names.map((n) => [n, make(n)])) as unknown as GatewayUseCases;
}

/** An ApiContext over scripted use-cases; `deps` carries only config, operations, clock and a silent log. */
export function fakeApiContext(options: {
  useCases: GatewayUseCases;
  env?: NodeJS.ProcessEnv;
  operations?: OperationsPort;
}): ApiContext {
  const config: Config = loadConfig(options.env ?? {});
  const silent = { info: () => undefined, warn: () => undefined, error: () => undefined };
  const deps = {
    config,
    operations: options.operations ?? new FixedOperations(),
    clock: () => new Date('2026-01-01T00:00:00Z'),
    log: silent,
  } as unknown as GatewayDeps;
  return { config: () => config, useCases: options.useCases, deps: () => Promise.resolve(deps) };
}
