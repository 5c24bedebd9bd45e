/** GET /operations/{id}: a long-running operation (provision, roll, delete) in the Azure LRO shape. */
import { NotFoundError } from '../errors.js';
import type { OperationResponse } from '../api/schemas.js';
import type { GatewayDeps } from './deps.js';

export async function getOperation(
  deps: Pick<GatewayDeps, 'operations'>,
  id: string,
): Promise<OperationResponse> {
  const operation = await deps.operations.getOperation(id);
  if (!operation) throw new NotFoundError(`operation '${id}' does not exist`);
  return operation;
}
