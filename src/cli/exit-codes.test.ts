// The CLI as a process, through its bin launcher: exit codes, stdin, one-line errors, the kubectl plugin
// name. (`apisec report` against a cluster: test/integration/cli-report.test.ts.)
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { repoRoot } from '../../test/support/golden.ts';
import { wantColor } from './text.ts';

const BIN = join(repoRoot, 'bin/apisec.js');

function apisec(args: string[], opts: { input?: string; bin?: string; env?: Record<string, string> } = {}): { code: number | null; stdout: string; stderr: string } {
  const res = spawnSync(process.execPath, [opts.bin ?? BIN, ...args], {
    cwd: repoRoot,
    input: opts.input ?? '',
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...opts.env },
    timeout: 30_000,
  });
  return { code: res.status, stdout: res.stdout, stderr: res.stderr };
}

const lines = (s: string): string[] => s.split('\n').filter(Boolean);

describe('apisec import', () => {
  it('reads kubectl List output on stdin, prints policies, and sums up on stderr', () => {
    const res = apisec(['import', '-'], { input: readFileSync(join(repoRoot, 'test/fixtures/import/legacy-ingresses.yaml'), 'utf8') });
    expect(res.code).toBe(0);
    expect(parseAllDocuments(res.stdout).map((d) => (d.toJS() as { metadata: { name: string } }).metadata.name)).toEqual(['storefront', 'payments', 'public-feed']);
    expect(res.stderr).toBe('apisec: imported 3 Ingress(es); 1 without ingress-nginx annotations skipped; 12 annotation(s) not carried over (listed above each policy)\n');
  });

  it('needs input', () => {
    expect(apisec(['import']).code).toBe(2);
  });

  it('render --provider takes a known data plane only', () => {
    const res = apisec(['render', '--provider', 'envoy', 'examples/']);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('--provider must be one of ingress-nginx, traefik, haproxy, envoy-gateway, got "envoy"');
    expect(apisec(['render', '--provider', 'envoy-gateway', 'examples/']).code).toBe(0);
  });
});

describe('apisec exit codes', () => {
  it.each<[string, number, string[]]>([
    ['no control fails', 0, ['check', 'examples/internal-api.yaml']],
    ['declared authorization rules that nothing enforces', 1, ['check', 'examples/public-api.yaml']],
    ['Audit mode, --fail-on warn', 1, ['check', 'examples/audit-rollout.yaml', '--fail-on', 'warn']],
    ['a control fails', 1, ['check', 'examples/']],
    ['a control fails, --fail-on never', 0, ['check', 'examples/audit-rollout.yaml', '--fail-on', 'never']],
    ['a control warns, --fail-on warn', 1, ['check', '-f', 'examples/internal-api.yaml', '--fail-on', 'warn']],
    ['a score below --min-score', 1, ['check', 'examples/internal-api.yaml', '--min-score', '90']],
    ['uncovered APIs', 1, ['check', 'test/fixtures/cli/mixed.yaml', '--fail-on', 'never']],
    ['uncovered APIs allowed', 0, ['check', 'test/fixtures/cli/mixed.yaml', '--fail-on', 'never', '--allow-uncovered']],
    ['render', 0, ['render', '-f', 'examples/']],
  ])('%s → %d', (_name, code, args) => {
    const res = apisec(args);
    expect(res.stderr.replace(/^apisec: note: .*\n/gm, '')).toBe('');
    expect(res.code).toBe(code);
  });

  it.each<[string, string[], RegExp]>([
    ['unparseable YAML', ['check', 'test/fixtures/cli/broken.yaml'], /^apisec: test\/fixtures\/cli\/broken\.yaml:4:9: invalid YAML: .+$/],
    ['a missing file', ['render', '-f', 'nope.yaml'], /^apisec: cannot read nope\.yaml: no such file or directory$/],
    ['no input', ['check'], /^apisec: check needs input: files, directories, or - for stdin$/],
    ['an unknown output format', ['check', 'examples', '-o', 'xml'], /^apisec: --output must be one of table, json, sarif, junit, got "xml"$/],
    ['an unknown flag', ['check', '--colour', 'examples'], /^apisec: Unknown option '--colour'$/],
    ['an unknown command', ['lint', 'examples'], /^apisec: unknown command "lint" \(check, render, import, report or guard\)$/],
    ['a bad --ingress-class', ['render', 'examples', '--ingress-class', 'nginx=envoy'], /^apisec: --ingress-class expects CLASS=PROVIDER/],
  ])('%s → 2, one line on stderr, no stack trace', (_name, args, message) => {
    const res = apisec(args);
    expect(res.code).toBe(2);
    expect(res.stdout).toBe('');
    const [first, second, ...rest] = lines(res.stderr);
    expect(first).toMatch(message);
    // A usage error adds the hint to --help; nothing else.
    expect(second === undefined || /^Run "apisec( \w+)? --help" for usage\.$/.test(second)).toBe(true);
    expect(rest).toEqual([]);
    expect(res.stderr).not.toMatch(/^\s+at /m);
  });

  it('reports an invalid policy with its field path and rule, in the output and on stderr → 2', () => {
    const res = apisec(['check', 'test/fixtures/cli/invalid.yaml', 'examples/internal-api.yaml', '-o', 'json']);
    expect(res.code).toBe(2);
    expect(lines(res.stderr)).toEqual([
      'apisec: test/fixtures/cli/invalid.yaml:5: ApiSecurityPolicy shop/broken-api: spec.targetRefs[0].group: Ingress lives in group networking.k8s.io, Service in the core group "", HTTPRoute in gateway.networking.k8s.io; spec.rateLimit.burst: burst must be at least the per-second rate; spec.cors.allowOrigins: a wildcard origin cannot be combined with allowCredentials',
    ]);
    const out = JSON.parse(res.stdout) as { result: string; invalid: { reason: string }[]; policies: { name: string; outcome: string }[] };
    expect(out.result).toBe('error');
    expect(out.invalid.map((e) => e.reason)).toEqual(['InvalidSpec']);
    expect(out.policies.map((p) => [p.name, p.outcome])).toEqual([['ledger-api', 'warn']]);
  });

  it('reads stdin for "-", named by --stdin-filename', () => {
    const res = apisec(['check', '-', '--stdin-filename', 'chart.yaml', '-o', 'json'], { input: readFileSync(join(repoRoot, 'examples/audit-rollout.yaml'), 'utf8') });
    expect(res.code).toBe(1);
    const out = JSON.parse(res.stdout) as { policies: { file: string; line: number; score: number; auditScore: number }[] };
    // Audit mode: nothing is protected now; auditScore is what enforcing it would give.
    expect(out.policies).toEqual([expect.objectContaining({ file: 'chart.yaml', line: 26, score: 0, auditScore: 58 })]);
  });

  it('renders YAML that parses back into the objects', () => {
    const res = apisec(['render', '-f', '-'], { input: readFileSync(join(repoRoot, 'examples/public-api.yaml'), 'utf8') });
    expect(res.code).toBe(0);
    const objs = parseAllDocuments(res.stdout).map((d) => d.toJS() as { kind: string; metadata: { name: string } });
    expect(objs.map((o) => `${o.kind}/${o.metadata.name}`)).toEqual(['Ingress/catalog', expect.stringMatching(/^NetworkPolicy\/apisec-catalog-api-catalog-[0-9a-f]{10}$/)]);
  });

  it('shows the stack trace only with --debug', () => {
    expect(apisec(['check', 'nope.yaml']).stderr).not.toMatch(/\n\s+at /);
    expect(apisec(['check', 'nope.yaml', '--debug']).stderr).toMatch(/\n\s+at /);
  });

  it('prints the version of package.json, and help with examples and exit codes', () => {
    const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string };
    expect(apisec(['--version'])).toEqual({ code: 0, stdout: `${pkg.version}\n`, stderr: '' });
    for (const cmd of ['check', 'render', 'report']) {
      const res = apisec([cmd, '--help']);
      expect(res.code).toBe(0);
      expect(res.stdout).toContain(`Usage: apisec ${cmd}`);
      expect(res.stdout).toContain('Examples:');
      expect(res.stdout).toContain('Exit codes:');
    }
    expect(apisec(['--help']).stdout).toMatch(/Examples:[\s\S]*Exit codes:/);
    expect(apisec(['help', 'check']).stdout).toContain('Usage: apisec check');
    const bare = apisec([]);
    expect(bare.code).toBe(2);
    expect(bare.stderr).toContain('Usage:');
  });

  it('calls itself "kubectl apisec" when run as the kubectl plugin', () => {
    const dir = mkdtempSync(join(tmpdir(), 'apisec-plugin-'));
    try {
      symlinkSync(BIN, join(dir, 'kubectl-apisec'));
      const res = apisec(['--help'], { bin: join(dir, 'kubectl-apisec') });
      expect(res.code).toBe(0);
      expect(res.stdout).toContain('kubectl apisec check FILE|DIR|-');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('colours only on a terminal and never with NO_COLOR', () => {
    expect(wantColor(true, {})).toBe(true);
    expect(wantColor(true, { NO_COLOR: '1' })).toBe(false);
    expect(wantColor(true, { NO_COLOR: '' })).toBe(true);
    expect(wantColor(false, {})).toBe(false);
    expect(apisec(['check', 'examples/']).stdout).not.toContain('\u001b[');
  });
});
