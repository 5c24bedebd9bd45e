/**
 * Runs a gateway pod as its Deployment declares it, inside the gateway image's root filesystem
 * (scripts/image-rootfs.sh builds it from infra/image), in one of the suite's network namespaces.
 *
 * Each container gets what a container runtime gives it, built with the host's util-linux before the chroot:
 * its own mount and PID namespaces; a fresh copy-on-write root (overlayfs over the cached root filesystem, so
 * writes never reach the cache); /proc, with /proc/sys read-only unless privileged (as runc mounts it); /sys
 * (read-only unless privileged); a /dev tmpfs with the usual nodes and no /dev/net/tun; each volume mounted at
 * its mountPath (read-only when declared so); the image's PATH and nothing of the test runner's environment;
 * and, unless privileged, containerd's default capabilities less `capabilities.drop` plus `capabilities.add`
 * (`setpriv`), `no_new_privs` when `allowPrivilegeEscalation: false`, a read-only root when
 * `readOnlyRootFilesystem`. Then the container's own command runs under chroot: nothing of the host's /usr is
 * reachable from inside. The ServiceAccount token volume, when the test gives one (`serviceAccount`), is mounted
 * read-only where Kubernetes mounts it, with KUBERNETES_SERVICE_HOST/PORT in the environment, for a pod that
 * asks for it (`automountServiceAccountToken`); without one the container runs with no token, as with automount
 * off. Environment from the downward API is resolved for the pod template's own annotations. Not emulated: seccomp profiles, cgroup limits and the device cgroup, and CAP_SYS_CHROOT
 * stays in the bounding set (chroot needs it; containerd grants it by default anyway). Any other security
 * setting, volume type or env source stops the runner with an error rather than being ignored.
 *
 * Volumes are written the way the kubelet projects them (ConfigMap and Secret keys as files, the ConfigMaps of a
 * `projected` volume into one directory, Secret files with
 * `defaultMode`), into host directories the test may change later, like the kubelet delivering an update.
 */
import type { ChildProcess } from 'node:child_process';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, posix } from 'node:path';
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { KubeObject } from '../../../shared/model/cluster-port.js';
import { SERVICE_ACCOUNT_DIR } from '../../../shared/openvpn/index.js';
import type { Netns } from './netns.js';

const repoRoot = join(import.meta.dirname, '../../..');

/** The PATH of the Debian base image (its `ENV PATH`), which the runtime gives the container. */
export const IMAGE_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** containerd's default capabilities of an unprivileged container (oci/spec.go `defaultUnixCaps`). */
const DEFAULT_CAPABILITIES = [
  'CHOWN',
  'DAC_OVERRIDE',
  'FSETID',
  'FOWNER',
  'MKNOD',
  'NET_RAW',
  'SETGID',
  'SETUID',
  'SETFCAP',
  'SETPCAP',
  'NET_BIND_SERVICE',
  'SYS_CHROOT',
  'KILL',
  'AUDIT_WRITE',
];

/** Character devices a runtime puts in every container's /dev: name, major, minor. */
const DEVICES: [string, number, number][] = [
  ['null', 1, 3],
  ['zero', 1, 5],
  ['full', 1, 7],
  ['random', 1, 8],
  ['urandom', 1, 9],
  ['tty', 5, 0],
];

/** The image's root filesystem, built or taken from the cache by scripts/image-rootfs.sh (last line). */
export function imageRootfs(): string {
  const out = execFileSync('bash', [join(repoRoot, 'scripts/image-rootfs.sh')], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return out.trim().split('\n').at(-1)!;
}

export interface ContainerOptions {
  /** Replaces the container's command, to probe the image with the container's own mounts and privileges. */
  readonly command?: readonly string[];
  /** Added to the container's environment (e.g. a shorter watch interval). */
  readonly env?: Readonly<Record<string, string>>;
  /** Absolute paths removed from this container's view of the image (overlayfs whiteouts). */
  readonly hide?: readonly string[];
}

/** What the kubelet gives a pod that mounts its ServiceAccount token, and where the API server is. */
export interface PodServiceAccount {
  readonly token: string;
  /** The cluster CA (ca.crt). */
  readonly caCrt: string;
  readonly namespace: string;
  /** KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT. */
  readonly host: string;
  readonly port: number;
}

export interface ContainerResult {
  readonly status: number | null;
  /** stdout and stderr. */
  readonly output: string;
}

/** Security settings the runner applies (or, for seccompProfile, accepts without a filter). */
const CONTAINER_SECURITY = new Set([
  'privileged',
  'capabilities',
  'allowPrivilegeEscalation',
  'readOnlyRootFilesystem',
  'seccompProfile',
]);
const POD_SECURITY = new Set(['seccompProfile']);

const capability = (name: string) => name.toUpperCase().replace(/^CAP_/, '');

const q = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;

/**
 * An absolute path inside the image with its symlinks resolved inside the image (as runc resolves a mount's
 * destination): Debian's /var/run is a link to /run, which must not lead to the host's /run.
 */
function inImage(rootfs: string, path: string): string {
  const rest = path.split('/').filter(Boolean);
  const done: string[] = [];
  for (let hops = 0; rest.length > 0;) {
    const part = rest.shift()!;
    let link: string | undefined;
    try {
      if (lstatSync(join(rootfs, ...done, part)).isSymbolicLink())
        link = readlinkSync(join(rootfs, ...done, part));
    } catch {
      // not in the image: created as a directory
    }
    if (link === undefined) {
      done.push(part);
      continue;
    }
    if ((hops += 1) > 40) throw new Error(`too many symbolic links in ${path}`);
    const target = posix.isAbsolute(link) ? link : posix.join('/', ...done, link);
    rest.unshift(...posix.normalize(target).split('/').filter(Boolean));
    done.length = 0;
  }
  return `/${done.join('/')}`;
}

function unsupported(message: string): Error {
  return new Error(`the pod runner cannot run this pod: ${message}`);
}

export class GatewayPod {
  private readonly spec: NonNullable<NonNullable<IDeployment['spec']>['template']['spec']>;
  /** Host directory of each volume, by volume name. */
  private readonly volumes = new Map<string, string>();
  private readonly annotations: Readonly<Record<string, string>>;
  /** Host directory of the ServiceAccount token volume, when the pod gets one. */
  private readonly serviceAccountDir: string | undefined;
  private runs = 0;

  constructor(
    private readonly options: {
      readonly net: Netns;
      /** The pod's network namespace. */
      readonly ns: string;
      readonly rootfs: string;
      /** The gateway's objects, from the manifest builder: the Deployment, its ConfigMaps and Secret. */
      readonly objects: readonly KubeObject[];
      /** A directory of the test's, for the volumes and each container's scratch mount point. */
      readonly dir: string;
      /** The token volume and API server address the kubelet would give the pod. */
      readonly serviceAccount?: PodServiceAccount;
    },
  ) {
    const deployment = options.objects.find((o) => o.kind === 'Deployment') as IDeployment | undefined;
    const spec = deployment?.spec?.template.spec;
    if (!spec) throw unsupported('the objects hold no Deployment with a pod template');
    this.annotations = deployment?.spec?.template.metadata?.annotations ?? {};
    const account = options.serviceAccount;
    if (account && spec.automountServiceAccountToken !== false) {
      const path = join(options.dir, 'volumes', 'service-account-token');
      mkdirSync(path, { recursive: true });
      writeFileSync(join(path, 'token'), account.token, { mode: 0o644 });
      writeFileSync(join(path, 'ca.crt'), account.caCrt);
      writeFileSync(join(path, 'namespace'), account.namespace);
      this.serviceAccountDir = path;
    }
    for (const key of Object.keys(spec.securityContext ?? {}))
      if (!POD_SECURITY.has(key)) throw unsupported(`the pod sets securityContext.${key}`);
    this.spec = spec;
    for (const volume of spec.volumes ?? []) {
      const path = join(options.dir, 'volumes', volume.name);
      mkdirSync(path, { recursive: true });
      this.volumes.set(volume.name, path);
      if (volume.configMap) {
        if (volume.configMap.items) throw unsupported(`volume ${volume.name} projects items`);
        for (const [key, value] of Object.entries(this.data('ConfigMap', volume.configMap.name)))
          writeFileSync(join(path, key), value);
      } else if (volume.secret) {
        if (volume.secret.items) throw unsupported(`volume ${volume.name} projects items`);
        const mode = volume.secret.defaultMode ?? 0o644;
        for (const [key, value] of Object.entries(this.data('Secret', volume.secret.secretName)))
          writeFileSync(join(path, key), Buffer.from(value, 'base64'), { mode });
      } else if (volume.projected) {
        // One directory from several ConfigMaps (a gateway's CCD shards), as the kubelet projects them.
        for (const source of volume.projected.sources ?? []) {
          if (!source.configMap || source.configMap.items)
            throw unsupported(`volume ${volume.name} projects something else than whole ConfigMaps`);
          for (const [key, value] of Object.entries(this.data('ConfigMap', source.configMap.name))) {
            if (existsSync(join(path, key))) throw unsupported(`volume ${volume.name} projects ${key} twice`);
            writeFileSync(join(path, key), value);
          }
        }
      } else if (!volume.emptyDir) {
        throw unsupported(
          `volume ${volume.name} is neither a ConfigMap, a Secret, a projection nor an emptyDir`,
        );
      }
    }
  }

  private data(kind: 'ConfigMap' | 'Secret', name: string | undefined): Record<string, string> {
    const object = this.options.objects.find((o) => o.kind === kind && o.metadata.name === name);
    if (!object) throw unsupported(`no ${kind} ${name ?? '(unnamed)'} among the objects`);
    return (object['data'] ?? {}) as Record<string, string>;
  }

  private container(name: string): IContainer {
    const container = [...(this.spec.initContainers ?? []), ...this.spec.containers].find(
      (c) => c.name === name,
    );
    if (!container) throw unsupported(`no container ${name}`);
    return container;
  }

  get initContainerNames(): string[] {
    return (this.spec.initContainers ?? []).map((c) => c.name);
  }

  get containerNames(): string[] {
    return this.spec.containers.map((c) => c.name);
  }

  /** The host directory behind the volume mounted at `mountPath` in any container. */
  hostPath(mountPath: string): string {
    const all = [...(this.spec.initContainers ?? []), ...this.spec.containers];
    const mount = all.flatMap((c) => c.volumeMounts ?? []).find((m) => m.mountPath === mountPath);
    const path = mount && this.volumes.get(mount.name);
    if (!path) throw unsupported(`no volume is mounted at ${mountPath}`);
    return path;
  }

  /** The command (run inside the pod's network namespace) that runs the container as declared. */
  private command(name: string, options: ContainerOptions): string[] {
    const c = this.container(name);
    const command = options.command ?? [...(c.command ?? []), ...(c.args ?? [])];
    if (command.length === 0) throw unsupported(`container ${name} has no command`);
    const env = { PATH: IMAGE_PATH, HOME: '/root', HOSTNAME: 'openvpn' } as Record<string, string>;
    const account = this.options.serviceAccount;
    if (this.serviceAccountDir && account) {
      env['KUBERNETES_SERVICE_HOST'] = account.host;
      env['KUBERNETES_SERVICE_PORT'] = String(account.port);
    }
    for (const e of c.env ?? []) {
      env[e.name] = e.value ?? this.downwardValue(name, e.name, e.valueFrom?.fieldRef?.fieldPath);
    }
    Object.assign(env, options.env);
    const security = c.securityContext ?? {};
    for (const key of Object.keys(security))
      if (!CONTAINER_SECURITY.has(key)) throw unsupported(`container ${name} sets securityContext.${key}`);
    const privileged = security.privileged === true;
    const drop = (security.capabilities?.drop ?? []).map(capability);
    const capabilities = new Set([
      ...(drop.includes('ALL') ? [] : DEFAULT_CAPABILITIES.filter((cap) => !drop.includes(cap))),
      ...(security.capabilities?.add ?? []).map(capability),
      'SYS_CHROOT',
    ]);

    this.runs += 1;
    const scratch = join(this.options.dir, 'containers', `${name}-${this.runs}`);
    mkdirSync(scratch, { recursive: true });
    const root = `${scratch}/root`;
    const lines = [
      'set -eu',
      `mount -t tmpfs -o mode=0755 container ${q(scratch)}`,
      `mkdir ${q(`${scratch}/upper`)} ${q(`${scratch}/work`)} ${q(root)}`,
      ...(options.hide ?? []).flatMap((path) => [
        `mkdir -p ${q(`${scratch}/upper${dirname(path)}`)}`,
        `mknod ${q(`${scratch}/upper${path}`)} c 0 0`,
      ]),
      `mount -t overlay overlay -o ${q(`lowerdir=${this.options.rootfs},upperdir=${scratch}/upper,workdir=${scratch}/work`)} ${q(root)}`,
      `mount -t proc proc ${q(`${root}/proc`)}`,
      ...(privileged
        ? []
        : [
            `mount --bind ${q(`${root}/proc/sys`)} ${q(`${root}/proc/sys`)}`,
            `mount -o remount,bind,ro ${q(`${root}/proc/sys`)}`,
          ]),
      `mount -t sysfs -o ${privileged ? 'rw' : 'ro'} sysfs ${q(`${root}/sys`)}`,
      `mount -t tmpfs -o mode=0755 dev ${q(`${root}/dev`)}`,
      ...DEVICES.map(([dev, major, minor]) => `mknod -m 666 ${q(`${root}/dev/${dev}`)} c ${major} ${minor}`),
      `mkdir ${q(`${root}/dev/shm`)}`,
      `ln -s /proc/self/fd ${q(`${root}/dev/fd`)}`,
      ...(c.volumeMounts ?? []).flatMap((m) => {
        const source = this.volumes.get(m.name);
        if (!source) throw unsupported(`container ${name} mounts the unknown volume ${m.name}`);
        if (m.subPath) throw unsupported(`container ${name} mounts ${m.name} with a subPath`);
        const target = q(`${root}${m.mountPath}`);
        return [
          `mkdir -p ${target}`,
          `mount --bind ${q(source)} ${target}`,
          ...(m.readOnly ? [`mount -o remount,bind,ro ${target}`] : []),
        ];
      }),
      ...(this.serviceAccountDir
        ? [
            `mkdir -p ${q(`${root}${inImage(this.options.rootfs, SERVICE_ACCOUNT_DIR)}`)}`,
            `mount --bind ${q(this.serviceAccountDir)} ${q(`${root}${inImage(this.options.rootfs, SERVICE_ACCOUNT_DIR)}`)}`,
            `mount -o remount,bind,ro ${q(`${root}${inImage(this.options.rootfs, SERVICE_ACCOUNT_DIR)}`)}`,
          ]
        : []),
      ...(security.readOnlyRootFilesystem ? [`mount -o remount,ro ${q(root)}`] : []),
      [
        'exec env -i',
        ...Object.entries(env).map(([k, v]) => q(`${k}=${v}`)),
        ...(privileged
          ? []
          : [
              'setpriv',
              `--bounding-set=-all,${[...capabilities].map((cap) => `+${cap.toLowerCase()}`).join(',')}`,
              ...(security.allowPrivilegeEscalation === false ? ['--no-new-privs'] : []),
            ]),
        'chroot',
        q(root),
        ...command.map(q),
      ].join(' '),
    ];
    return [
      'unshare',
      '--mount',
      '--pid',
      '--fork',
      '--kill-child',
      '--propagation',
      'private',
      'sh',
      '-c',
      lines.join('\n'),
    ];
  }

  /** An env value from the downward API: only the pod template's annotations are resolved. */
  private downwardValue(container: string, variable: string, fieldPath: string | undefined): string {
    const key = /^metadata\.annotations\['([^']+)'\]$/.exec(fieldPath ?? '')?.[1];
    if (key === undefined) throw unsupported(`container ${container} takes ${variable} from a source`);
    return this.annotations[key] ?? '';
  }

  /** Runs a container to its end (an init container, or a probe of the image). */
  run(name: string, options: ContainerOptions = {}): ContainerResult {
    const r = spawnSync('ip', ['netns', 'exec', this.options.ns, ...this.command(name, options)], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    return { status: r.status, output: `${r.stdout}${r.stderr}` };
  }

  /** Runs every init container in order, as the kubelet does before the containers; throws on a failure. */
  runInitContainers(): void {
    for (const name of this.initContainerNames) {
      const r = this.run(name);
      if (r.status !== 0) throw new Error(`init container ${name} exited with ${r.status}:\n${r.output}`);
    }
  }

  /** Starts a long-running container, its output appended to `logFile`. */
  start(name: string, logFile: string, options: ContainerOptions = {}): ChildProcess {
    return this.options.net.start(this.options.ns, this.command(name, options), logFile);
  }
}
