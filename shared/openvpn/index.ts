export { MAX_PREFIX, allocateStaticIp, planAddresses } from './address-plan.js';
export {
  ENTRYPOINT_PROGRAMS,
  LAN_ROUTE_PROTOCOL,
  renderCcdEntry,
  renderClientProfile,
  renderEntrypoint,
  renderLanRouting,
  renderPortMappingsFile,
  renderServerConf,
  serverCommonName,
} from './render.js';
export {
  cidrContains,
  gatewaySpecProblems,
  lanSubnetProblems,
  routesContaining,
  validateGatewaySpec,
} from './validate.js';
export { POD_DIRS, POD_PATHS } from './paths.js';
