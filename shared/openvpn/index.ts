export type { AddressPlan } from './address-plan.js';
export { allocateStaticIp, netmaskOf, planAddresses } from './address-plan.js';
export {
  DATA_CIPHERS,
  TUN_DEVICE,
  renderCcdEntry,
  renderClientProfile,
  renderEntrypoint,
  renderPortMappingsFile,
  renderServerConf,
  serverCommonName,
} from './render.js';
export { gatewaySpecProblems, validateGatewaySpec } from './validate.js';
export * from './paths.js';
