// The Helm chart ships the repository's CRDs (Helm installs charts/*/crds/ before the templates) and the
// operator's version: both must match the source of truth, or a release installs a stale schema or
// labels the wrong version.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { repoRoot } from '../support/controlplane.ts';

const chart = join(repoRoot, 'charts/api-security-operator');
const yamlFiles = (dir: string): string[] => readdirSync(dir).filter((f) => f.endsWith('.yaml')).sort();

describe('the Helm chart', () => {
  it('ships exactly the CRDs of crds/ (run `npm run sync:chart-crds` after `npm run gen:crds`)', () => {
    const source = yamlFiles(join(repoRoot, 'crds'));
    expect(source.length).toBeGreaterThan(0);
    expect(yamlFiles(join(chart, 'crds'))).toEqual(source);
    for (const f of source) {
      const same = readFileSync(join(repoRoot, 'crds', f), 'utf8') === readFileSync(join(chart, 'crds', f), 'utf8');
      if (!same) throw new Error(`charts/api-security-operator/crds/${f} differs from crds/${f}: run npm run sync:chart-crds`);
    }
  });

  it("has appVersion = package.json's version", () => {
    const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string };
    const meta = parse(readFileSync(join(chart, 'Chart.yaml'), 'utf8')) as { appVersion: string; name: string };
    expect(meta.name).toBe('api-security-operator');
    expect(meta.appVersion).toBe(pkg.version);
  });
});
