/**
 * The gateway image is tested, not assumed: its root filesystem, built from infra/image (the Dockerfile's base
 * suite and packages.txt) by scripts/image-rootfs.sh, runs the containers the manifest builder declares, with
 * their own mounts and privileges (support/pod.ts). The OpenVPN suite runs the whole pod in it; this file
 * checks the image itself, and that a program missing from it fails loudly.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GatewaySpec } from '../../shared/model/gateway.js';
import { ENTRYPOINT_PROGRAMS } from '../../shared/openvpn/index.js';
import { gatewayObjects } from './support/gateway.js';
import { Netns } from './support/netns.js';
import { GatewayPod, imageRootfs } from './support/pod.js';

const spec: GatewaySpec = {
  name: 'image',
  vpnSubnet: '10.141.0.0/24',
  routes: ['10.99.0.0/24'],
  port: 443,
  loadBalancer: { internal: false, sourceRanges: [] },
  clientCertValidityDays: 30,
};
// OpenVPN never starts in this file, so the Secret's content is not read.
const objects = gatewayObjects({
  spec,
  pki: { caCrt: 'ca', serverCrt: 'crt', serverKey: 'key', tlsCryptKey: 'tls', crlPem: 'crl' },
  server: { serial: '01', notAfter: new Date() },
});

const net = new Netns();
let dir: string;
let rootfs: string;
let pod: GatewayPod;
let ns: string;
let init: string;
let server: string;

const forwarding = () => net.sh(['cat', '/proc/sys/net/ipv4/ip_forward'], { ns }).trim();

beforeAll(() => {
  rootfs = imageRootfs();
  dir = mkdtempSync(join(tmpdir(), 'gateway-image-'));
  ns = net.addNamespace('img');
  pod = new GatewayPod({ net, ns, rootfs, objects, dir });
  expect(pod.initContainerNames).toStrictEqual(['enable-forwarding']);
  expect(pod.containerNames).toStrictEqual(['openvpn']);
  [init] = pod.initContainerNames as [string];
  [server] = pod.containerNames as [string];
});

afterAll(async () => {
  await net.teardown();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('the gateway image (infra/image, built by scripts/image-rootfs.sh)', () => {
  it('holds every program the containers run, the entrypoint’s included', () => {
    const probe = ['sh', '-c', 'for p do command -v "$p" > /dev/null || echo "missing $p"; done', 'probe'];
    const initProgram = (
      objects.find((o) => o.kind === 'Deployment') as unknown as {
        spec: { template: { spec: { initContainers: { command: string[] }[] } } };
      }
    ).spec.template.spec.initContainers[0]!.command[0]!;
    expect(pod.run(init, { command: [...probe, initProgram] })).toStrictEqual({ status: 0, output: '' });
    expect(pod.run(server, { command: [...probe, 'sh', ...ENTRYPOINT_PROGRAMS] })).toStrictEqual({
      status: 0,
      output: '',
    });
  });

  it('shows a container the image’s /usr only: programs the host has and the image lacks are absent', () => {
    for (const program of ['node', 'curl'])
      expect(execFileSync('sh', ['-c', `command -v ${program}`], { encoding: 'utf8' })).not.toBe('');
    expect(pod.run(server, { command: ['sh', '-c', 'command -v node curl; ls -1A /usr/bin'] })).toStrictEqual(
      { status: 0, output: `${readdirSync(join(rootfs, 'usr/bin')).sort().join('\n')}\n` },
    );
  });

  it('fails loudly when a command runs a program the image lacks (sysctl: the image has no procps)', () => {
    const r = pod.run(init, { command: ['sh', '-c', 'sysctl -w net.ipv4.ip_forward=1'] });
    expect(r.status).toBe(127);
    expect(r.output).toMatch(/sysctl: not found/);
    expect(forwarding()).toBe('0');
  });

  it('stops the entrypoint at start, naming the program, when the image lacks one it runs', () => {
    const r = pod.run(server, { hide: ['/usr/bin/socat'] });
    expect(r).toStrictEqual({ status: 1, output: 'entrypoint: the image has no socat\n' });
  });

  it('cannot enable forwarding from the server container (read-only /proc/sys): the privileged init container does', () => {
    const r = pod.run(server, { command: ['sh', '-c', 'echo 1 > /proc/sys/net/ipv4/ip_forward'] });
    expect(r.status).not.toBe(0);
    expect(r.output).toMatch(/Read-only file system/);
    expect(forwarding()).toBe('0');
    pod.runInitContainers();
    expect(forwarding()).toBe('1');
  });
});
