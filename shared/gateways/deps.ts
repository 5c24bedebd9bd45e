import type { ClusterInfoSource } from '../model/cluster-info.js';
import type { Config } from '../config.js';
import type { ClusterPort } from '../model/cluster-port.js';
import type { Logger } from '../logging.js';
import type { OperationsPort } from '../model/operations-port.js';
import type { SecretStore } from '../model/secret-store.js';

/** Everything a use-case needs, built once by `shared/composition.ts` (or by a test with fakes). */
export interface GatewayDeps {
  readonly cluster: ClusterPort;
  readonly secrets: SecretStore;
  readonly clusterInfo: ClusterInfoSource;
  readonly operations: OperationsPort;
  readonly config: Config;
  readonly clock: () => Date;
  readonly log: Logger;
}
