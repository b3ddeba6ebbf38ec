// The CLI as people install it: `npm pack` (which builds dist/ by prepack), the tarball installed into an
// empty folder with npm (its dependencies from the registry, no dev dependencies), and `apisec check` run
// there from node_modules/.bin on the packaged examples. It must answer as the checkout's CLI does.
// Needs no control plane; it lives here because it needs the network and a minute or two.
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { repoRoot } from '../support/controlplane.ts';

const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { name: string; version: string; dependencies: Record<string, string> };

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end within timeoutMs (then SIGKILL); never rejects on a non-zero exit. */
function run(file: string, args: string[], opts: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs: number }): Promise<Run> {
  return new Promise((resolve, reject) => {
    const proc = spawn(file, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    proc.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => proc.kill('SIGKILL'), opts.timeoutMs);
    proc.on('error', reject);
    proc.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}

/** npm on this Node (24): the npm that runs `npm run` (npm_execpath), else the one on PATH. */
function npm(args: string[], cwd: string, timeoutMs: number): Promise<Run> {
  const env = { ...process.env, npm_config_update_notifier: 'false', npm_config_fund: 'false', npm_config_audit: 'false' };
  const cli = process.env.npm_execpath;
  return cli && /npm-cli\.js$/.test(cli) ? run(process.execPath, [cli, ...args], { cwd, env, timeoutMs }) : run('npm', args, { cwd, env, timeoutMs });
}

describe('the npm package', () => {
  let work: string;
  let app: string;
  let tarball: string;
  let installed: string;
  // The installed bin's `#!/usr/bin/env node` finds this Node first.
  const env = { ...process.env, PATH: `${dirname(process.execPath)}${delimiter}${process.env.PATH ?? ''}` };

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'apisec-pack-'));
    const packed = await npm(['pack', '--pack-destination', work], repoRoot, 180_000);
    expect(packed.stderr).not.toMatch(/npm (error|ERR!)/);
    expect(packed.status).toBe(0);
    const tgz = readdirSync(work).filter((f) => f.endsWith('.tgz'));
    expect(tgz).toEqual([`${pkg.name}-${pkg.version}.tgz`]);
    tarball = join(work, tgz[0] ?? '');
    app = join(work, 'app');
    mkdirSync(app);
    // An empty project, so npm installs here and not into a package.json further up.
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'pipeline', private: true }));
    const install = await npm(['install', '--no-audit', '--no-fund', tarball], app, 300_000);
    expect(install.stderr).not.toMatch(/npm (error|ERR!)/);
    expect(install.status).toBe(0);
    installed = join(app, 'node_modules', pkg.name);
  }, 500_000);

  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('holds the compiled CLI, the CRDs and the examples; no sources, tests or source maps', () => {
    const files = spawnSync('tar', ['-tzf', tarball], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean);
    expect(files).toEqual(expect.arrayContaining(['package/package.json', 'package/README.md', 'package/bin/apisec.js', 'package/dist/cli/main.js', 'package/dist/main.js', 'package/crds/apisec.dev_apisecuritypolicies.yaml', 'package/examples/public-api.yaml']));
    expect(files.filter((f) => /^package\/(src|test|scripts|charts|node_modules)\/|\.map$|\.ts$/.test(f))).toEqual([]);
  });

  it('installs with its runtime dependencies only', () => {
    for (const dep of Object.keys(pkg.dependencies)) expect(existsSync(join(app, 'node_modules', dep))).toBe(true);
    for (const dev of ['typescript', 'jest', 'ts-jest', 'eslint', 'node']) expect(existsSync(join(app, 'node_modules', dev))).toBe(false);
  });

  it('apisec check on the packaged examples: exit 1 naming the failing policies, as the checkout answers', async () => {
    cpSync(join(installed, 'examples'), join(app, 'policies'), { recursive: true });
    const r = await run(join(app, 'node_modules/.bin/apisec'), ['check', 'policies/'], { cwd: app, env, timeoutMs: 60_000 });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(1);
    expect(r.stdout).toContain('FAILED: 4 policies (0 pass, 1 warn, 3 fail)');
    for (const p of ['billing/ledger-api', 'legacy/reports-api', 'partners/partner-api', 'shop/catalog-api']) expect(r.stdout).toContain(p);
    // The checkout runs the TypeScript sources: the compiled package must say exactly the same.
    const fromSources = await run(process.execPath, [join(repoRoot, 'bin/apisec.js'), 'check', 'policies/'], { cwd: app, env, timeoutMs: 60_000 });
    expect(fromSources.status).toBe(1);
    expect(r.stdout).toBe(fromSources.stdout);
  }, 150_000);

  it('kubectl-apisec is the same CLI, and the operator runs from the package too', async () => {
    const version = await run(join(app, 'node_modules/.bin/kubectl-apisec'), ['--version'], { cwd: app, env, timeoutMs: 30_000 });
    expect(version.stdout.trim()).toBe(pkg.version);
    expect(version.status).toBe(0);
    const operator = await run(process.execPath, [join(installed, 'dist/main.js'), '--help'], { cwd: app, env, timeoutMs: 30_000 });
    expect(operator.stdout).toContain('node dist/main.js');
    expect(operator.status).toBe(0);
  }, 60_000);
});
