/**
 * Every Azure role the Bicep assigns is a built-in role whose id matches Microsoft's published id. The ids
 * are kept in infra/built-in-roles.json, copied from the "Azure built-in roles" page it names; a Bicep file
 * writes each id beside the role's exact name, so a mistyped id (the AKS Cluster User Role once ended in
 * `2d3473bc4c01`) fails here instead of failing `azd up`.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const infra = join(import.meta.dirname, '../../infra');
const table = JSON.parse(readFileSync(join(infra, 'built-in-roles.json'), 'utf8')) as {
  source: string;
  roles: Record<string, string>;
};

function bicepFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? bicepFiles(join(dir, e.name)) : e.name.endsWith('.bicep') ? [join(dir, e.name)] : [],
  );
}

const GUID = /'([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})'/g;
/** `Name: 'id'` or `'Name with spaces': 'id'` entries of a `roles` object. */
const NAMED_ID = /^\s*(?:'([^']+)'|(\w+)): '([0-9a-fA-F-]{36})'\s*$/gm;

/** Every GUID literal of a Bicep file, with the role name written beside it (if any). */
function roleIdsOf(source: string): { id: string; name: string | undefined }[] {
  const named = new Map<string, string>();
  for (const m of source.matchAll(NAMED_ID)) named.set(m[3]!, m[1] ?? m[2]!);
  return [...source.matchAll(GUID)].map((m) => ({ id: m[1]!, name: named.get(m[1]!) }));
}

/** What is wrong with the role ids of a Bicep source: unnamed ids, unknown roles, ids that differ. */
function roleIdProblems(source: string): string[] {
  return roleIdsOf(source).flatMap(({ id, name }) => {
    if (name === undefined) return [`${id} is not written beside a built-in role name`];
    const published = table.roles[name];
    if (published === undefined) return [`${name} is not in infra/built-in-roles.json`];
    return published === id ? [] : [`${name} is ${published}, not ${id}`];
  });
}

describe('Azure built-in role ids', () => {
  it('keeps a table of Microsoft built-in role ids that names its source', () => {
    expect(table.source).toMatch(/learn\.microsoft\.com\/azure\/role-based-access-control\/built-in-roles/);
    const ids = Object.values(table.roles);
    expect(ids.length).toBeGreaterThan(0);
    for (const id of ids)
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(new Set(ids).size).toBe(ids.length);
  });

  const files = bicepFiles(infra);

  it('finds every role the Bicep assigns, each written beside its name', () => {
    const names = files.flatMap((f) => roleIdsOf(readFileSync(f, 'utf8')).map((r) => r.name));
    expect(names.sort()).toStrictEqual(
      [
        'AcrPull',
        'Azure Kubernetes Service Cluster User Role',
        'Key Vault Secrets Officer',
        'Monitoring Metrics Publisher',
        'Reader',
        'Storage Blob Data Owner',
        'Storage Queue Data Contributor',
        'Storage Table Data Contributor',
      ].sort(),
    );
  });

  it.each(files.map((f) => [relative(infra, f), f]))(
    '%s assigns role ids Microsoft publishes',
    (_name, file) => {
      expect(roleIdProblems(readFileSync(file, 'utf8'))).toStrictEqual([]);
    },
  );

  it('rejects the id the AKS Cluster User Role was once written with', () => {
    // GIVEN the role table of infra/app/aks-rbac.bicep as it was, with names written beside the ids
    const old = [
      'var roles = {',
      "  Reader: 'acdd72a7-3385-48ef-bd42-f606fba81ae7'",
      "  'Azure Kubernetes Service Cluster User Role': '4abbcc35-e782-43d8-92c5-2d3473bc4c01'",
      '}',
    ].join('\n');
    // THEN the check names the role and the published id
    expect(roleIdProblems(old)).toStrictEqual([
      'Azure Kubernetes Service Cluster User Role is 4abbcc35-e782-43d8-92c5-2d3f1bd2253f, not 4abbcc35-e782-43d8-92c5-2d3473bc4c01',
    ]);
  });
});
