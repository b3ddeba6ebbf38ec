// Golden outputs of every format: check (table, json, sarif, junit), render (YAML) and report (table,
// json), from examples/ and test/fixtures/cli/. UPDATE_GOLDEN=1 rewrites test/golden/cli/*.
import { expectGolden, repoRoot } from '../../test/support/golden.ts';
import { defaultSettings } from '../render/types.ts';
import { assessInventory, check, defaultThresholds, type CheckResult, type Thresholds } from './check.ts';
import { parseDocuments } from './documents.ts';
import { CHECK_FORMATS, formatCheck } from './format-check.ts';
import { buildInventory, type Inventory } from './inventory.ts';
import { readSources } from './io.ts';
import { formatYaml, writtenObjects } from './render-output.ts';
import { REPORT_FORMATS, buildReport, formatReport, type ClusterPolicy } from './report.ts';

const VERSION = '0.0.0-golden';

async function inventoryOf(paths: string[]): Promise<Inventory> {
  const sources = await readSources(paths, { cwd: repoRoot, readStdin: async () => '', stdinName: 'stdin' });
  return buildInventory(sources.flatMap(parseDocuments), 'default');
}

// The first three examples, by name: a new example should not rewrite these goldens.
const EXAMPLES = ['examples/public-api.yaml', 'examples/internal-api.yaml', 'examples/audit-rollout.yaml'];

const EXT = { table: 'txt', json: 'json', sarif: 'sarif.json', junit: 'junit.xml' } as const;

const inputs: [string, string[], Thresholds][] = [
  ['examples', EXAMPLES, defaultThresholds],
  ['mixed', ['test/fixtures/cli/mixed.yaml'], { failOn: 'warn', minScore: 60, allowUncovered: false }],
  ['invalid', ['test/fixtures/cli/invalid.yaml', 'examples/public-api.yaml'], { failOn: 'never', minScore: 0, allowUncovered: true }],
];

describe('apisec check goldens (UPDATE_GOLDEN=1 to refresh test/golden/cli/)', () => {
  const results = new Map<string, CheckResult>();
  beforeAll(async () => {
    for (const [name, paths] of inputs) results.set(name, check(await inventoryOf(paths), defaultSettings));
  });

  for (const [name, , thresholds] of inputs) {
    it.each(CHECK_FORMATS)(`${name} as %s`, (format) => {
      expectGolden(`cli/check-${name}.${EXT[format]}`, formatCheck(results.get(name)!, format, { thresholds, version: VERSION }));
    });
  }

  it('colours the table only when asked', () => {
    const r = results.get('examples')!;
    const plain = formatCheck(r, 'table', { thresholds: defaultThresholds, version: VERSION });
    const colored = formatCheck(r, 'table', { thresholds: defaultThresholds, version: VERSION, color: true });
    expect(plain).not.toContain('\u001b[');
    expect(colored).toContain('\u001b[31mFAIL');
    expect(colored.replaceAll(/\[\d+m/g, '').replaceAll('\u001b', '')).toBe(plain);
  });
});

describe('apisec render goldens', () => {
  it.each([
    ['examples', EXAMPLES],
    ['mixed', ['test/fixtures/cli/mixed.yaml']],
  ])('%s', async (name, paths) => {
    const { assessed } = assessInventory(await inventoryOf(paths), defaultSettings);
    expectGolden(`cli/render-${name}.yaml`, formatYaml(writtenObjects(assessed).objects));
  });
});

describe('apisec report goldens', () => {
  it.each(REPORT_FORMATS)('as %s', async (format) => {
    const inv = await inventoryOf([...EXAMPLES, 'test/fixtures/cli/mixed.yaml']);
    const r = check(inv, defaultSettings);
    // Statuses as the operator would write them: one reconciled, one stale, the others not yet.
    const policies: ClusterPolicy[] = inv.policies.map(({ object }) => {
      const rep = r.policies.find((p) => p.namespace === object.metadata.namespace && p.name === object.metadata.name)!;
      const reconciled = ['catalog-api', 'reports-api', 'orders-api', 'orders-legacy'].includes(object.metadata.name);
      return {
        metadata: { ...object.metadata, generation: object.metadata.name === 'reports-api' ? 3 : 2 },
        spec: object.spec,
        ...(reconciled
          ? {
              status: {
                observedGeneration: 2,
                score: rep.score,
                violations: rep.violations,
                controls: rep.controls,
                targets: rep.targets,
                conditions: [{ type: 'Accepted', status: 'True', reason: 'Accepted', message: '', lastTransitionTime: '2026-01-01T00:00:00Z' }],
              },
            }
          : {}),
      };
    });
    const report = buildReport(
      policies,
      inv.ingresses.map((i) => i.object),
      inv.services.map((s) => s.object),
    );
    expectGolden(`cli/report.${format === 'table' ? 'txt' : 'json'}`, formatReport(report, format));
  });
});
