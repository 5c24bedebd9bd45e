/**
 * Where the gateway pod finds its files: root `/etc/openvpn`, each ConfigMap/Secret mounted as a whole volume
 * at a sub-directory (never subPath, which never receives updates). OpenVPN runs with `--cd <root>` and every
 * path in server.conf is relative to that root.
 */
export const POD_ROOT = '/etc/openvpn';

/** Sub-directories of the root, one per volume. */
export const POD_DIRS = Object.freeze({
  /** ConfigMap `server`: `server.conf`, `entrypoint.sh`. */
  server: 'server',
  /** Secret `server-pki`: `ca.crt`, `server.crt`, `server.key`, `tls-crypt.key`, `crl.pem`. */
  pki: 'pki',
  /** The CCD ConfigMaps (`ccd-<i>` shards as one projected volume, or the legacy `ccd`): one file per client. */
  ccd: 'ccd',
  /** ConfigMap `port-mappings`: `mappings.txt` (applied by the entrypoint). */
  portMappings: 'port-mappings',
  /** emptyDir: management socket `management.sock`, `status.log`. */
  run: 'run',
});

/** Absolute in-pod paths of each volume. */
export const POD_PATHS = Object.freeze({
  serverDir: `${POD_ROOT}/${POD_DIRS.server}`,
  pkiDir: `${POD_ROOT}/${POD_DIRS.pki}`,
  ccdDir: `${POD_ROOT}/${POD_DIRS.ccd}`,
  portMappingsDir: `${POD_ROOT}/${POD_DIRS.portMappings}`,
  runDir: `${POD_ROOT}/${POD_DIRS.run}`,
});

/** Environment variables the entrypoint reads (the Deployment sets the config hash; tests shorten intervals). */
export const POD_ENV = Object.freeze({
  /** The pod template's config hash (downward API), reported as the hash the pod runs. */
  configHash: 'OVPN_CONFIG_HASH',
  /** Seconds between the watcher's rounds (default 5). */
  watchInterval: 'OVPN_WATCH_INTERVAL',
});

/** Where Kubernetes mounts the pod's ServiceAccount token, CA and namespace. */
export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';
