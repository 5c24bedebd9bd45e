/**
 * Where the gateway pod finds its files. The manifests mount each ConfigMap/Secret as a whole volume
 * (never subPath, which never receives updates) at these directories; the entrypoint script and
 * server.conf refer to them; the end-to-end suite points them at temporary directories instead
 * through the same environment variables the entrypoint reads.
 */
export const POD_PATHS = Object.freeze({
  /** ConfigMap `server`: `server.conf`, `entrypoint.sh`. Env `OVPN_SERVER_DIR`. */
  serverDir: '/etc/openvpn/server',
  /** Secret `server-pki`: `ca.crt`, `server.crt`, `server.key`, `tls-crypt.key`, `crl.pem`. Env `OVPN_PKI_DIR`. */
  pkiDir: '/etc/openvpn/pki',
  /** ConfigMap `ccd`: one key (file) per client. Env `OVPN_CCD_DIR`. */
  ccdDir: '/etc/openvpn/ccd',
  /** ConfigMap `port-mappings`: `mappings.txt` (applied by the entrypoint) and `mappings.json` (declared). Env `OVPN_PORT_MAPPINGS_DIR`. */
  portMappingsDir: '/etc/openvpn/port-mappings',
  /** emptyDir: management socket `management.sock`, `status.log`. Env `OVPN_RUN_DIR`. */
  runDir: '/run/openvpn',
});

export const SERVER_PKI_KEYS = Object.freeze([
  'ca.crt',
  'server.crt',
  'server.key',
  'tls-crypt.key',
  'crl.pem',
] as const);
