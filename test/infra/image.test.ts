/**
 * The gateway image has one package list, infra/image/packages.txt: the Dockerfile installs it, and
 * scripts/image-rootfs.sh builds the end-to-end suite's root filesystem from it and from the Dockerfile's base.
 * These checks keep the Dockerfile from installing anything the suite would not see.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const image = join(import.meta.dirname, '../../infra/image');
const dockerfile = readFileSync(join(image, 'Dockerfile'), 'utf8');
const instructions = dockerfile
  .replace(/\\\n/g, ' ')
  .split('\n')
  .filter((line) => line.trim() !== '' && !line.startsWith('#'));
const packages = readFileSync(join(image, 'packages.txt'), 'utf8')
  .split('\n')
  .map((line) => line.replace(/#.*/, '').trim())
  .filter(Boolean);

describe('the gateway image (infra/image)', () => {
  it('builds on a Debian slim suite, the base scripts/image-rootfs.sh reads', () => {
    const from = instructions.filter((i) => i.startsWith('FROM '));
    expect(from).toHaveLength(1);
    expect(from[0]).toMatch(/^FROM debian:[a-z]+-slim$/);
  });

  it('installs packages.txt without Recommends, and no package from anywhere else', () => {
    expect(instructions).toContain('COPY packages.txt /tmp/packages.txt');
    const installs = instructions.flatMap((i) =>
      [...i.matchAll(/apt-get install[^&|]*/g)].map((m) => m[0].trim()),
    );
    expect(installs).toStrictEqual(['apt-get install -y --no-install-recommends']);
    expect(dockerfile).toContain("sed -e 's/#.*//' /tmp/packages.txt | xargs apt-get install");
    expect(instructions.filter((i) => /^(ADD|COPY) /.test(i))).toStrictEqual([
      'COPY packages.txt /tmp/packages.txt',
    ]);
  });

  it('lists each package once, by its Debian name, the server’s programs among them', () => {
    expect(packages.every((p) => /^[a-z0-9][a-z0-9+.-]+$/.test(p))).toBe(true);
    expect(new Set(packages).size).toBe(packages.length);
    expect(packages).toEqual(expect.arrayContaining(['openvpn', 'iptables', 'socat']));
  });
});
