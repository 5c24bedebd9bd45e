/**
 * No Bicep CLI can be installed here, so the infrastructure is checked structurally: modules exist and
 * get every parameter they require, parameters files match, names follow the azd conventions, the
 * Function app's settings are settings the app knows, and every setting is documented in the README.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { API } from '../../shared/api/routes.js';

const infra = join(import.meta.dirname, '../../infra');
const read = (path: string) => readFileSync(path, 'utf8');
const main = read(join(infra, 'main.bicep'));
const moduleFiles = readdirSync(join(infra, 'app')).filter((f) => f.endsWith('.bicep'));

/** `param name type` declarations: name → has a default value. */
function params(source: string): Map<string, boolean> {
  const found = new Map<string, boolean>();
  for (const m of source.matchAll(/^param (\w+) [\w.]+( =)?/gm)) found.set(m[1]!, m[2] !== undefined);
  return found;
}

/** `module sym 'path' = { ... params: { ... } }` blocks of main.bicep. */
function modules(source: string): { path: string; body: string }[] {
  return [...source.matchAll(/^module \w+ '([^']+)' = (?:if \([^)]*\) )?\{([\s\S]*?)^\}/gm)].map((m) => ({
    path: m[1]!,
    body: m[2]!,
  }));
}

describe('infra', () => {
  it('references only module files that exist, passing every parameter they require', () => {
    const used = modules(main);
    expect(used.length).toBeGreaterThan(0);
    for (const { path, body } of used) {
      const file = join(infra, path);
      const declared = params(read(file));
      for (const [name, hasDefault] of declared)
        if (!hasDefault) expect(body, `${path} needs ${name}`).toMatch(new RegExp(`\\b${name}:`));
    }
    expect(new Set(used.map((m) => m.path.replace('app/', '')))).toStrictEqual(new Set(moduleFiles));
  });

  it('has a parameters file that sets exactly the parameters main.bicep declares', () => {
    const file = JSON.parse(read(join(infra, 'main.parameters.json'))) as {
      parameters: Record<string, unknown>;
    };
    expect(Object.keys(file.parameters).sort()).toStrictEqual([...params(main).keys()].sort());
  });

  it('names outputs in UPPER_SNAKE and resources from resourceToken and abbreviations', () => {
    const outputs = [...main.matchAll(/^output (\w+) /gm)].map((m) => m[1]!);
    expect(outputs.length).toBeGreaterThan(0);
    for (const o of outputs) expect(o).toMatch(/^[A-Z][A-Z0-9_]*$/);
    const abbreviations = JSON.parse(read(join(infra, 'abbreviations.json'))) as Record<string, string>;
    for (const m of main.matchAll(/abbrs\.(\w+)/g)) expect(abbreviations).toHaveProperty(m[1]!);
    expect(main).toContain('uniqueString(subscription().id, environmentName, location)');
  });

  it('tags only the Function app site with azd-service-name (azd before 1.24 refuses a second tagged resource)', () => {
    const sources = [main, ...moduleFiles.map((f) => read(join(infra, 'app', f)))];
    const tagged = sources
      .flatMap((s) => [
        ...s.matchAll(/^resource \w+ '([^@']+)@[^']+'[^\n]*\{\n(?:(?!^\}).*\n)*?\s+tags: ([^\n]+)/gm),
      ])
      .filter((m) => m[2]!.includes('azd-service-name'))
      .map((m) => m[1]);
    expect(tagged).toStrictEqual(['Microsoft.Web/sites']);
    expect(main).not.toMatch(/azd-service-name/);
  });

  it('puts App Service Authentication (Entra ID, required, 401) in front of the app whenever roles are on', () => {
    const api = read(join(infra, 'app/api.bicep'));
    // the site's Authentication, deployed exactly when a client id is passed ...
    const auth =
      /resource \w+ 'Microsoft\.Web\/sites\/config@[^']+' = if \(!empty\(authClientId\)\) \{([\s\S]*?)\n\}/.exec(
        api,
      )?.[1];
    expect(auth).toBeDefined();
    expect(auth).toContain("name: 'authsettingsV2'");
    expect(auth).toMatch(/platform: \{ enabled: true \}/);
    expect(auth).toContain('requireAuthentication: true');
    expect(auth).toContain("unauthenticatedClientAction: 'Return401'");
    expect(auth).toMatch(/azureActiveDirectory: \{\s+enabled: true/);
    expect(auth).toContain('clientId: authClientId');
    // ... which main.bicep does whenever roles are on, and roles are on unless turned off
    expect(main).toContain("authClientId: toLower(authRolesEnabled) == 'true' ? authClientId : ''");
    expect(main).toContain("param authRolesEnabled string = 'true'");
    expect(main).toMatch(/AUTH_ROLES_ENABLED: authRolesEnabled/);
  });

  it('exempts from App Service Authentication exactly the anonymous routes of the API table (healthz, enroll)', () => {
    const api = read(join(infra, 'app/api.bicep'));
    const excluded = /excludedPaths: \[([^\]]*)\]/.exec(api)?.[1] ?? '';
    const paths = [...excluded.matchAll(/'([^']+)'/g)].map((m) => m[1]);
    const anonymous = Object.values(API)
      .filter((o) => o.authLevel === 'anonymous')
      .map((o) => `/api/${o.route}`);
    expect(paths).toStrictEqual(anonymous);
    expect(paths).toStrictEqual(['/api/healthz', '/api/enroll']);
  });

  it('uses RBAC with guid() role assignment names, managed identity and no keys', () => {
    const all = moduleFiles.map((f) => read(join(infra, 'app', f))).join('\n');
    const assignments = [
      ...all.matchAll(/roleAssignments@[\d-]+' = (\[[\s\S]*?\]|\{)[\s\S]*?name: ([^\n]+)/g),
    ];
    expect(assignments.length).toBeGreaterThanOrEqual(4);
    for (const a of assignments) expect(a[2]).toMatch(/^guid\(/);
    expect(all).toContain('enableRbacAuthorization: true');
    expect(all).not.toMatch(/accessPolicies|listKeys\(|AccountKey=/);
    expect(all).toContain('allowSharedKeyAccess: false');
  });

  it('sets only application settings the app knows, all documented in the README', () => {
    const config = read(join(infra, '../shared/config.ts'));
    const known = new Set([...config.matchAll(/^\s{4}([A-Z][A-Z0-9_]+): /gm)].map((m) => m[1]!));
    expect(known.size).toBeGreaterThan(10);
    const appSettings = /appSettings: \{([\s\S]*?)\n {4}\}/.exec(main)?.[1] ?? '';
    const keys = [...appSettings.matchAll(/^\s+([A-Z][A-Z0-9_]+):/gm)].map((m) => m[1]!);
    const hostOnly = new Set(['DURABLE_TASK_HUB']);
    for (const k of keys)
      expect(known.has(k) || hostOnly.has(k), `${k} is not a setting of shared/config.ts`).toBe(true);
    const readme = read(join(dirname(infra), 'README.md'));
    for (const k of [...known, ...hostOnly]) expect(readme, `README lacks ${k}`).toContain(`\`${k}\``);
  });
});
