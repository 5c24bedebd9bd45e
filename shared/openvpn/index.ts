export { MAX_PREFIX, allocateStaticIp, planAddresses } from './address-plan.js';
export {
  ENTRYPOINT_PROGRAMS,
  LAN_ROUTE_PROTOCOL,
  renderCcdEntry,
  renderClientProfile,
  renderEntrypoint,
  renderLanRouting,
  MAPPINGS_SET_PREFIX,
  STATUS_REPORT,
  portMappingsSetHash,
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
export { POD_DIRS, POD_ENV, POD_PATHS, SERVICE_ACCOUNT_DIR } from './paths.js';
