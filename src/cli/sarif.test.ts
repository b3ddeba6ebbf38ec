// The SARIF output validates against the SARIF 2.1.0 JSON schema (the copy @microsoft/jest-sarif ships,
// a draft-04 schema, hence ajv-draft-04), for every input shape the goldens cover.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import ajvDraft04 from 'ajv-draft-04';
import ajvFormats from 'ajv-formats';
import { repoRoot } from '../../test/support/golden.ts';
import { defaultSettings } from '../render/types.ts';
import { check, defaultThresholds, type Thresholds } from './check.ts';
import { parseDocuments } from './documents.ts';
import { formatCheck } from './format-check.ts';
import { buildInventory } from './inventory.ts';
import { readSources } from './io.ts';
import { allRules } from './rules.ts';

const require = createRequire(import.meta.url);
const schemaPath = require.resolve('@microsoft/jest-sarif/lib/schemas/sarif-2.1.0-rtm.5.json');

function validator(): (data: unknown) => string[] {
  const schema = JSON.parse(readFileSync(schemaPath, 'utf8')) as Record<string, unknown>;
  // The schema's `language` pattern is not valid as a unicode regular expression (a stray "]").
  // Both are CommonJS: their ESM default import is module.exports, which carries the class as .default.
  const ajv = new ajvDraft04.default({ allErrors: true, strict: false, unicodeRegExp: false });
  ajvFormats.default(ajv);
  const validate = ajv.compile(schema);
  return (data) => (validate(data) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message ?? ''}`));
}

async function sarifOf(paths: string[], thresholds: Thresholds = defaultThresholds): Promise<{ runs: { tool: { driver: { rules: { id: string }[] } }; results: { ruleId: string; ruleIndex: number; level: string; locations: { physicalLocation?: { artifactLocation: { uri: string }; region: { startLine: number } } }[] }[] }[] }> {
  const sources = await readSources(paths, { cwd: repoRoot, readStdin: async () => '', stdinName: 'stdin' });
  const r = check(buildInventory(sources.flatMap(parseDocuments), 'default'), defaultSettings);
  return JSON.parse(formatCheck(r, 'sarif', { thresholds, version: '1.2.3' }));
}

describe('SARIF output', () => {
  const validate = validator();

  it('the validator rejects what is not SARIF 2.1.0, down to a result', async () => {
    expect(validate({ version: '2.1.0', runs: [{ tool: {} }] })).not.toEqual([]);
    expect(validate({ version: '2.0.0', runs: [] })).not.toEqual([]);
    const sarif = await sarifOf(['examples']);
    sarif.runs[0]!.results[0]!.level = 'fatal';
    expect(validate(sarif)).toEqual([expect.stringMatching(/^\/runs\/0\/results\/0\/level /)]);
  });

  it.each([
    ['examples', ['examples'], defaultThresholds],
    ['conflicts, missing targets, uncovered APIs, a minimum score', ['test/fixtures/cli/mixed.yaml'], { failOn: 'warn', minScore: 90, allowUncovered: false }],
    ['an invalid policy', ['test/fixtures/cli/invalid.yaml'], defaultThresholds],
  ] as [string, string[], Thresholds][])('is valid SARIF 2.1.0 for %s', async (_name, paths, thresholds) => {
    const sarif = await sarifOf(paths, thresholds);
    expect(validate(sarif)).toEqual([]);
    const run = sarif.runs[0]!;
    expect(run.tool.driver.rules.map((r) => r.id)).toEqual(allRules.map((r) => r.id));
    expect(run.results.length).toBeGreaterThan(0);
    for (const res of run.results) {
      // Every result names its rule consistently and points at a file and line of the input.
      expect(run.tool.driver.rules[res.ruleIndex]!.id).toBe(res.ruleId);
      expect(res.locations[0]!.physicalLocation!.artifactLocation.uri).toMatch(/^(examples|test\/fixtures\/cli)\/[a-z-]+\.yaml$/);
      expect(res.locations[0]!.physicalLocation!.region.startLine).toBeGreaterThan(0);
    }
  });

  it('points a failing control at the policy document and an uncovered API at its own document', async () => {
    const run = (await sarifOf(['test/fixtures/cli/mixed.yaml'])).runs[0]!;
    const where = (ruleId: string): string[] =>
      run.results.filter((r) => r.ruleId === ruleId).map((r) => `${r.level} ${r.locations[0]!.physicalLocation!.artifactLocation.uri}:${r.locations[0]!.physicalLocation!.region.startLine}`);
    expect(where('RequestLimits')).toEqual(['error test/fixtures/cli/mixed.yaml:3', 'error test/fixtures/cli/mixed.yaml:19']);
    expect(where('UncoveredAPI')).toEqual(['error test/fixtures/cli/mixed.yaml:85', 'error test/fixtures/cli/mixed.yaml:77']);
  });
});
