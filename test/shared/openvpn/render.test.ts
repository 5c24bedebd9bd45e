import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { InputError } from '../../../shared/errors.js';
import type { GatewaySpec } from '../../../shared/model/gateway.js';
import {
  gatewaySpecProblems,
  planAddresses,
  renderCcdEntry,
  renderClientProfile,
  renderEntrypoint,
  renderLanRouting,
  renderPortMappingsFile,
  renderServerConf,
  ENTRYPOINT_PROGRAMS,
  LAN_ROUTE_PROTOCOL,
  serverCommonName,
} from '../../../shared/openvpn/index.js';
import { generateTlsCryptKey } from '../../../shared/pki/index.js';

const spec: GatewaySpec = {
  name: 'branch-1',
  vpnSubnet: '10.140.0.0/24',
  routes: ['10.0.0.0/16', '10.244.0.0/16'],
  port: 443,
  loadBalancer: { internal: false, sourceRanges: [] },
  clientCertValidityDays: 365,
};

/** Directives of a config as [name, ...args] (comments and blank lines dropped). */
const directives = (conf: string) =>
  conf
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.startsWith('#'))
    .map((l) => l.split(' '));

const PEM = (label: string) => `-----BEGIN ${label}-----\nQUJD\n-----END ${label}-----\n`;

describe('renderServerConf', () => {
  it('renders exactly the directives of a TCP server with static client addresses, tls-crypt and a CRL', () => {
    expect(directives(renderServerConf(spec))).toStrictEqual([
      ['port', '443'],
      ['proto', 'tcp-server'],
      ['dev', 'tun0'],
      ['dev-type', 'tun'],
      ['topology', 'subnet'],
      ['server', '10.140.0.0', '255.255.255.0', 'nopool'],
      ['ifconfig-pool', '10.140.0.192', '10.140.0.254', '255.255.255.0'],
      ['client-config-dir', 'ccd'],
      ['ccd-exclusive'],
      ['push', '"route', '10.0.0.0', '255.255.0.0"'],
      ['push', '"route', '10.244.0.0', '255.255.0.0"'],
      ['ca', 'pki/ca.crt'],
      ['cert', 'pki/server.crt'],
      ['key', 'pki/server.key'],
      ['dh', 'none'],
      ['tls-crypt', 'pki/tls-crypt.key'],
      ['crl-verify', 'pki/crl.pem'],
      ['remote-cert-tls', 'client'],
      ['tls-version-min', '1.2'],
      ['data-ciphers', 'AES-256-GCM:AES-128-GCM:CHACHA20-POLY1305'],
      ['keepalive', '10', '60'],
      ['persist-key'],
      ['persist-tun'],
      ['management', 'run/management.sock', 'unix'],
      ['status', 'run/status.log', '10'],
      ['status-version', '2'],
      ['verb', '3'],
    ]);
  });

  it('never enables compression nor tls-auth', () => {
    const conf = renderServerConf(spec);
    expect(conf).not.toMatch(/comp|compress|tls-auth|key-direction/);
  });
});

describe('input that could inject configuration is rejected', () => {
  it.each<[string, Partial<GatewaySpec>, string]>([
    ['a newline in a route', { routes: ['10.0.0.0/16\npush "route 0.0.0.0 0.0.0.0"'] }, '/routes/0'],
    ['a quote in a route', { routes: ['10.0.0.0/16"'] }, '/routes/0'],
    ['a space in a route', { routes: ['10.0.0.0 /16'] }, '/routes/0'],
    ['a non-canonical route', { routes: ['10.0.0.1/16'] }, '/routes/0'],
    ['a default route', { routes: ['0.0.0.0/0'] }, '/routes/0'],
    ['overlapping routes', { routes: ['10.0.0.0/16', '10.0.128.0/17'] }, '/routes/1'],
    ['a route overlapping the VPN subnet', { routes: ['10.140.0.0/16'] }, '/routes/0'],
    ['a malformed VPN subnet', { vpnSubnet: '10.140.0.0/33' }, '/vpnSubnet'],
    ['a too small VPN subnet', { vpnSubnet: '10.140.0.0/30' }, '/vpnSubnet'],
    ['an upper-case name', { name: 'Branch' }, '/name'],
    ['a name with a slash', { name: 'a/b' }, '/name'],
    ['a name with ..', { name: '..' }, '/name'],
    ['a 64-character name', { name: 'a'.repeat(64) }, '/name'],
    ['port 0', { port: 0 }, '/port'],
    ['port 65536', { port: 65536 }, '/port'],
    ['a public host with a space', { publicHost: 'vpn.example.com remote evil 1' }, '/publicHost'],
    ['a bad DNS label', { dnsLabel: '-x' }, '/dnsLabel'],
    [
      'a bad source range',
      { loadBalancer: { internal: false, sourceRanges: ['1.2.3.4'] } },
      '/loadBalancer/sourceRanges/0',
    ],
    ['validity 0', { clientCertValidityDays: 0 }, '/clientCertValidityDays'],
  ])('rejects %s', (_case, change, path) => {
    const bad = { ...spec, ...change };
    expect(gatewaySpecProblems(bad).map((p) => p.path)).toContain(path);
    expect(() => renderServerConf(bad)).toThrow(InputError);
    expect(() => renderEntrypoint(bad)).toThrow(InputError);
  });
});

describe('specs the real OpenVPN server would refuse, or that break the tunnel, are rejected', () => {
  it.each<[string, Partial<GatewaySpec>, string]>([
    // OpenVPN 2.6: "IPv4 pool size is too small (1), must be at least 2"
    ['a /29 VPN subnet', { vpnSubnet: '10.140.0.0/29' }, '/vpnSubnet'],
    // OpenVPN 2.6: "error parsing --server parameters"
    ['a VPN subnet in 0.0.0.0/8', { vpnSubnet: '0.0.0.0/24' }, '/vpnSubnet'],
    ['a multicast VPN subnet', { vpnSubnet: '224.0.0.0/24' }, '/vpnSubnet'],
    ['a reserved VPN subnet', { vpnSubnet: '240.0.0.0/24' }, '/vpnSubnet'],
    ['a loopback route', { routes: ['127.0.0.0/8'] }, '/routes/0'],
    ['a link-local route', { routes: ['169.254.0.0/16'] }, '/routes/0'],
    ['a route with a zero-padded prefix', { routes: ['10.0.0.0/08'] }, '/routes/0'],
    ['a route wider than /8', { routes: ['128.0.0.0/1'] }, '/routes/0'],
    ['a public host of 0.0.0.0', { publicHost: '0.0.0.0' }, '/publicHost'],
    ['a loopback public host', { publicHost: '127.0.0.1' }, '/publicHost'],
    [
      "a route containing the gateway's public host",
      { routes: ['10.0.0.0/16', '20.0.0.0/8'], publicHost: '20.50.1.2' },
      '/routes/1',
    ],
  ])('rejects %s', (_case, change, path) => {
    const bad = { ...spec, ...change };
    expect(gatewaySpecProblems(bad).map((p) => p.path)).toContain(path);
    expect(() => renderServerConf(bad)).toThrow(InputError);
    expect(() => renderEntrypoint(bad)).toThrow(InputError);
  });
});

describe('renderCcdEntry', () => {
  it('pushes the static address with the subnet mask', () => {
    expect(renderCcdEntry(planAddresses('10.140.0.0/24'), '10.140.0.7')).toBe(
      'ifconfig-push 10.140.0.7 255.255.255.0\n',
    );
  });
  it('rejects anything but an address', () => {
    expect(() => renderCcdEntry(planAddresses('10.140.0.0/24'), '10.140.0.7\nroute x')).toThrow(InputError);
  });
  it('routes each LAN subnet to the client with an iroute', () => {
    expect(
      renderCcdEntry(planAddresses('10.140.0.0/24'), '10.140.0.7', ['192.168.10.0/24', '172.16.0.0/12']),
    ).toBe(
      'ifconfig-push 10.140.0.7 255.255.255.0\niroute 192.168.10.0 255.255.255.0\niroute 172.16.0.0 255.240.0.0\n',
    );
  });
  it.each(['192.168.10.1/24', '192.168.10.0/24\npush "route 0.0.0.0 0.0.0.0"', '192.168.10.0'])(
    'rejects the subnet %j',
    (subnet) => {
      expect(() => renderCcdEntry(planAddresses('10.140.0.0/24'), '10.140.0.7', [subnet])).toThrow(
        InputError,
      );
    },
  );
});

describe('renderClientProfile', () => {
  const base = {
    remoteHost: 'vpn.example.com',
    port: 443,
    serverCommonName: serverCommonName('branch-1'),
    caPem: PEM('CERTIFICATE'),
    certPem: PEM('CERTIFICATE'),
    keyPem: PEM('RSA PRIVATE KEY'),
    tlsCryptKey: generateTlsCryptKey(),
  };

  it('renders a tcp client profile with inline material and tls-crypt', () => {
    const profile = renderClientProfile(base);
    const lines = profile.split('\n');
    expect(directives(profile.split('<ca>')[0]!)).toStrictEqual([
      ['client'],
      ['dev', 'tun'],
      ['proto', 'tcp-client'],
      ['remote', 'vpn.example.com', '443'],
      ['resolv-retry', 'infinite'],
      ['connect-retry', '1', '10'],
      ['nobind'],
      ['persist-key'],
      ['persist-tun'],
      ['remote-cert-tls', 'server'],
      ['verify-x509-name', 'branch-1-server', 'name'],
      ['tls-version-min', '1.2'],
      ['data-ciphers', 'AES-256-GCM:AES-128-GCM:CHACHA20-POLY1305'],
      ['verb', '3'],
    ]);
    for (const tag of ['ca', 'cert', 'key', 'tls-crypt']) {
      expect(lines.filter((l) => l === `<${tag}>`)).toHaveLength(1);
      expect(lines.filter((l) => l === `</${tag}>`)).toHaveLength(1);
    }
    expect(profile).not.toMatch(/tls-auth|key-direction|comp/);
  });

  it('has no <key> for a CSR client', () => {
    const { keyPem: _key, ...withoutKey } = base;
    expect(renderClientProfile(withoutKey)).not.toContain('<key>');
  });

  it.each([
    ['a host with a newline', { remoteHost: 'a.example\nremote evil' }],
    ['a PEM that closes the block', { certPem: `${PEM('CERTIFICATE')}</cert>\nup /bin/sh\n<cert>\n` }],
    ['a key that is not a static key', { tlsCryptKey: 'hello' }],
    ['port 0', { port: 0 }],
  ])('rejects %s', (_case, change) => {
    expect(() => renderClientProfile({ ...base, ...change })).toThrow(InputError);
  });
});

describe('renderPortMappingsFile', () => {
  it('writes one line per mapping, sorted by port', () => {
    const file = renderPortMappingsFile([
      { port: 9000, client: 'b', clientIp: '10.140.0.3', targetPort: 22, protocol: 'tcp' },
      { port: 8081, client: 'a', clientIp: '10.140.0.2', targetPort: 80, protocol: 'udp' },
    ]);
    expect(directives(file)).toStrictEqual([
      ['udp', '8081', '10.140.0.2', '80', '', '#', 'a'],
      ['tcp', '9000', '10.140.0.3', '22', '', '#', 'b'],
    ]);
  });
  it('writes the LAN host as the target address of a mapping with targetHost', () => {
    const file = renderPortMappingsFile([
      {
        port: 8081,
        client: 'a',
        clientIp: '10.140.0.2',
        targetHost: '192.168.10.5',
        targetPort: 80,
        protocol: 'tcp',
      },
    ]);
    expect(directives(file)).toStrictEqual([['tcp', '8081', '192.168.10.5', '80', '', '#', 'a']]);
  });
  it.each([
    { port: 0, client: 'a', clientIp: '10.140.0.2', targetPort: 80, protocol: 'tcp' as const },
    { port: 80, client: 'a', clientIp: '10.140.0.2; rm -rf /', targetPort: 80, protocol: 'tcp' as const },
    { port: 80, client: 'a', clientIp: '10.140.0.2', targetPort: 80, protocol: 'icmp' as unknown as 'tcp' },
    {
      port: 80,
      client: 'a',
      clientIp: '10.140.0.2',
      targetHost: '192.168.1.5 -j ACCEPT',
      targetPort: 80,
      protocol: 'tcp' as const,
    },
  ])('rejects %j', (m) => {
    expect(() => renderPortMappingsFile([m])).toThrow(InputError);
  });
});

describe('renderEntrypoint', () => {
  it('is valid POSIX sh (dash -n)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'entrypoint-'));
    try {
      writeFileSync(join(dir, 'entrypoint.sh'), renderEntrypoint(spec));
      expect(execFileSync('dash', ['-n', join(dir, 'entrypoint.sh')], { encoding: 'utf8' })).toBe('');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('masquerades towards each route, applies mappings with DNAT+SNAT, watches, then execs openvpn', () => {
    const script = renderEntrypoint(spec);
    expect(script).toContain("ROUTES='10.0.0.0/16 10.244.0.0/16'");
    expect(script).toContain("SERVER_IP='10.140.0.1'");
    expect(script).toMatch(/-j DNAT --to-destination "\$ip:\$target"/);
    expect(script).toMatch(/-j SNAT --to-source "\$SERVER_IP"/);
    expect(script).toContain('mgmt "kill $cn"');
    expect(script.trimEnd().split('\n').at(-1)).toBe(
      'exec openvpn --cd "$ROOT" --config \'server/server.conf\'',
    );
  });

  it('refuses tunnel-to-tunnel forwarding and keeps the branch LANs routed, masqueraded and re-read', () => {
    const script = renderEntrypoint(spec);
    // no client-to-client, whatever routes a branch adds by hand
    expect(script).toContain('iptables -A AVG-FWD -i "$TUN" -o "$TUN" -j DROP');
    // LAN traffic towards each route goes through the watcher's masquerade chain
    expect(script).toContain('iptables -t nat -A AVG-MASQ -d "$route" -j AVG-LAN-MASQ');
    // the kernel routes carry the entrypoint's own protocol tag, so only those are ever removed
    expect(script).toContain(`LAN_PROTO='${LAN_ROUTE_PROTOCOL}'`);
    expect(script).toContain('ip route replace "$lan" dev "$TUN" proto "$LAN_PROTO"');
    expect(script).toContain('ip route del "$lan" dev "$TUN" proto "$LAN_PROTO"');
    // a client whose CCD entry changed is dropped, so OpenVPN reads its new iroutes at the reconnect
    expect(script).toContain('log "reconnecting $cn: its CCD entry changed"');
    expect(ENTRYPOINT_PROGRAMS).toContain('ip');
  });
});

describe('renderLanRouting', () => {
  it('reads every LAN of the CCD entries back as a CIDR, whatever its prefix, and nothing else', () => {
    // GIVEN CCD entries as the API renders them, one without LANs
    const dir = mkdtempSync(join(tmpdir(), 'lan-routing-'));
    try {
      const plan = planAddresses('10.140.0.0/24');
      const ccd = join(dir, 'ccd');
      mkdirSync(ccd);
      writeFileSync(join(ccd, 'a'), renderCcdEntry(plan, '10.140.0.2', ['10.20.0.0/14', '172.16.0.0/12']));
      writeFileSync(
        join(ccd, 'b'),
        renderCcdEntry(plan, '10.140.0.3', ['192.168.1.128/25', '192.168.2.7/32']),
      );
      writeFileSync(join(ccd, 'c'), renderCcdEntry(plan, '10.140.0.4'));
      writeFileSync(join(dir, 'lan.sh'), renderLanRouting());
      // WHEN the watcher's function lists them
      const out = execFileSync('dash', ['-c', `CCD='${ccd}'; . '${join(dir, 'lan.sh')}'; ccd_lans`], {
        encoding: 'utf8',
      });
      // THEN each iroute comes back as the CIDR it was rendered from
      expect(out.trim().split('\n').sort()).toStrictEqual(
        ['10.20.0.0/14', '172.16.0.0/12', '192.168.1.128/25', '192.168.2.7/32'].sort(),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
