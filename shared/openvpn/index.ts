export type { AddressPlan } from './address-plan.js';
export { MAX_PREFIX, MIN_PREFIX, allocateStaticIp, netmaskOf, planAddresses } from './address-plan.js';
export {
  DATA_CIPHERS,
  ENTRYPOINT_PROGRAMS,
  TUN_DEVICE,
  renderCcdEntry,
  renderClientProfile,
  renderEntrypoint,
  renderPortMappingsFile,
  renderServerConf,
  serverCommonName,
} from './render.js';
export {
  MIN_ROUTE_PREFIX,
  SPECIAL_PURPOSE_RANGES,
  gatewaySpecProblems,
  routesContaining,
  validateGatewaySpec,
} from './validate.js';
export * from './paths.js';
