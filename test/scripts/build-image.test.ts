/**
 * The azd postprovision hook (scripts/azd/build-image.sh) against stand-ins for the `az` and `azd` CLIs on
 * PATH: they record every call and keep the registry's tags in a file, so the hook's decisions (build or
 * reuse, which digest, which settings) are observed at the process boundary it really has.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

const repo = join(import.meta.dirname, '../..');
const DIGEST = `sha256:${'d'.repeat(64)}`;

const FAKE_AZ = `#!/bin/sh
echo "az $*" >> "$FAKE_LOG"
case "$1 $2 $3" in
  "acr repository show")
    image=$(echo "$*" | sed -n 's/.*--image \\([^ ]*\\).*/\\1/p')
    if grep -qx "$image" "$FAKE_REGISTRY" 2>/dev/null; then echo "$FAKE_DIGEST"; exit 0; fi
    echo "ERROR: manifest unknown" >&2; exit 3 ;;
  "acr build --registry")
    image=$(echo "$*" | sed -n 's/.*--image \\([^ ]*\\).*/\\1/p')
    echo "$image" >> "$FAKE_REGISTRY" ;;
  "functionapp config appsettings") ;;
  *) echo "unexpected az call" >&2; exit 9 ;;
esac
`;
const FAKE_AZD = `#!/bin/sh
echo "azd $*" >> "$FAKE_LOG"
`;

/** The tag the hook derives: sha256sum of every file of infra/image (sorted), hashed again, 16 hex digits. */
function expectedTag(): string {
  const dir = join(repo, 'infra/image');
  const files = readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => `./${relative(dir, join(e.parentPath, e.name))}`)
    .sort();
  const listing = files
    .map(
      (f) =>
        `${createHash('sha256')
          .update(readFileSync(join(dir, f)))
          .digest('hex')}  ${f}\n`,
    )
    .join('');
  return createHash('sha256').update(listing).digest('hex').slice(0, 16);
}

let dir: string;
const outputs = {
  AZURE_CONTAINER_REGISTRY_NAME: 'crabc123',
  AZURE_CONTAINER_REGISTRY_ENDPOINT: 'crabc123.azurecr.io',
  AZURE_FUNCTION_APP_NAME: 'func-api-abc123',
  AZURE_RESOURCE_GROUP: 'rg-vpn',
};

function runHook(env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      'sh',
      [join(repo, 'scripts/azd/build-image.sh')],
      {
        env: {
          PATH: `${dir}/bin:${process.env['PATH'] ?? ''}`,
          FAKE_LOG: join(dir, 'calls.log'),
          FAKE_REGISTRY: join(dir, 'registry'),
          FAKE_DIGEST: DIGEST,
          ...env,
        },
      },
      (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

const calls = () => readFileSync(join(dir, 'calls.log'), 'utf8').trim().split('\n');

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'build-image-'));
  // The stand-ins live in their own directory, first on PATH.
  mkdirSync(join(dir, 'bin'));
  for (const [name, body] of [
    ['az', FAKE_AZ],
    ['azd', FAKE_AZD],
  ] as const) {
    writeFileSync(join(dir, 'bin', name), body);
    chmodSync(join(dir, 'bin', name), 0o755);
  }
});

afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('the postprovision hook that builds the gateway image', () => {
  it('builds infra/image in the registry under its content hash and sets OPENVPN_IMAGE by digest', async () => {
    const tag = expectedTag();
    const result = await runHook(outputs);
    expect(result.code, result.stderr).toBe(0);
    const image = `crabc123.azurecr.io/aks-vpn-gateways/openvpn@${DIGEST}`;
    expect(calls()).toStrictEqual([
      `az acr repository show --name crabc123 --image aks-vpn-gateways/openvpn:${tag} --query digest --output tsv`,
      `az acr build --registry crabc123 --image aks-vpn-gateways/openvpn:${tag} infra/image`,
      `az acr repository show --name crabc123 --image aks-vpn-gateways/openvpn:${tag} --query digest --output tsv`,
      `azd env set OPENVPN_IMAGE ${image}`,
      `az functionapp config appsettings set --name func-api-abc123 --resource-group rg-vpn --settings OPENVPN_IMAGE=${image} --output none`,
    ]);
  });

  it('reuses an image already built from the same infra/image, and leaves settings that already name it', async () => {
    writeFileSync(join(dir, 'registry'), `aks-vpn-gateways/openvpn:${expectedTag()}\n`);
    const image = `crabc123.azurecr.io/aks-vpn-gateways/openvpn@${DIGEST}`;
    const result = await runHook({ ...outputs, OPENVPN_IMAGE: image });
    expect(result.code, result.stderr).toBe(0);
    expect(calls().map((c) => c.split(' ').slice(0, 3).join(' '))).toStrictEqual(['az acr repository']);
    expect(result.stdout).toContain(`OPENVPN_IMAGE is already ${image}`);
  });

  it('refuses to run before provisioning, naming the missing output', async () => {
    const { AZURE_CONTAINER_REGISTRY_NAME: _omitted, ...rest } = outputs;
    const result = await runHook(rest);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('AZURE_CONTAINER_REGISTRY_NAME: run azd provision first');
  });
});
