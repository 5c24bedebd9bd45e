/** GET /operations/{id}: a long-running operation (provision, roll, delete) in the Azure LRO shape. */
import { NotFoundError } from '../errors.js';
import type { Operation } from '../model/operations-port.js';
import type { GatewayDeps } from './deps.js';

export async function getOperation(deps: Pick<GatewayDeps, 'operations'>, id: string): Promise<Operation> {
  const operation = await deps.operations.getOperation(id);
  if (!operation) throw new NotFoundError(`operation '${id}' does not exist`);
  return operation;
}
