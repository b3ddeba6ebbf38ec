// npm run bench -- --policies N [--namespaces M] [--workers W] [--operator src|dist] [--memory-limit MiB] [--out FILE] [--quick]
//                  [--updates U] [--rate R] [--idle SECONDS] [--timeout SECONDS] [--label TEXT]
//
// The operator at scale against the real local control plane (test/support/controlplane.ts: etcd and
// kube-apiserver on 127.0.0.1, built or from KUBEBUILDER_ASSETS), in one run (docs: README, Performance).
// USE_EXISTING_CLUSTER=true is not supported yet: the quiet phases read a local control plane's audit log
// (they stop with a message), and both phases would share that cluster.
//   1. baseline: on a control plane of its own, a bare client makes exactly the writes the operator's
//      cold start makes (bench/scale/baseline.ts), at the operator's concurrency, as fast as it can;
//   2. cold convergence: on a fresh control plane with the same objects, the operator process starts;
//      time until every policy is Enforced at its current generation, the ratio to the baseline, the curve;
//   3. latency: policy updates at a fixed rate; update → artifacts and status seen through a watch;
//   4. quiet: the operator's mutating requests (audit log, Leases excluded) idle and after a restart;
//   5. footprint: RSS, heapUsed and external; event-loop delay; requests per reconcile by verb (/metrics).
// Writes a Markdown table to stdout, the JSON of every figure to --out and the curve next to it (.svg).
// Figures, never assertions: the machine is shared, so compare ratios within one run.
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { parseConfig, type OperatorConfig } from '../src/config.ts';
import { connect } from '../src/k8s/connect.ts';
import { repoRoot, startControlPlane, stopControlPlane, type ControlPlaneInfo } from '../test/support/controlplane.ts';
import { installCrds } from '../test/support/kube.ts';
import { grantOperatorRbac } from '../test/support/operator.ts';
import { recordColdWrites, replay, type BaselineResult } from './scale/baseline.ts';
import { createFixtures, createNamespace, type Layout } from './scale/fixtures.ts';
import { runOperatorPhases } from './scale/run.ts';
import { markdown, svg, type ScaleResult } from './scale/report.ts';
import { memoryLimitOption, podNodeFlags } from './node-flags.ts';

const { values } = parseArgs({
  options: {
    policies: { type: 'string' },
    namespaces: { type: 'string', default: '1' },
    workers: { type: 'string' },
    /** The pod's memory limit the chart derives the operator's Node flags from (bench/node-flags.ts); 0: none. */
    'memory-limit': { type: 'string' },
    operator: { type: 'string', default: 'src' },
    out: { type: 'string' },
    quick: { type: 'boolean', default: false },
    updates: { type: 'string', default: '200' },
    rate: { type: 'string', default: '20' },
    idle: { type: 'string' },
    timeout: { type: 'string', default: '1800' },
    /** A name for this run in the JSON (e.g. before/after a change). */
    label: { type: 'string', default: '' },
  },
});
const quick = values.quick ?? false;
const int = (name: string, v: string | undefined, min: number): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be a whole number ≥ ${min}`);
  return n;
};
const policies = int('policies', values.policies ?? (quick ? '200' : '1000'), 1);
const layoutOf = (prefix: string): Layout => ({ policies, namespaces: int('namespaces', values.namespaces, 1), prefix });
const memoryLimitMiB = memoryLimitOption(values['memory-limit']);
const nodeFlags = podNodeFlags(memoryLimitMiB);
const operatorBuild = values.operator === 'dist' ? 'dist' : 'src';
const out = values.out ?? join(repoRoot, `bench/results/${quick ? 'quick' : 'latest'}.json`);

/** The operator's settings and workers as its flags give them (the defaults unless --workers). */
const config = parseConfig(['--kubeconfig', '/dev/null', ...(values.workers ? ['--workers', values.workers] : [])], {}) as OperatorConfig;

async function prepared(info: ControlPlaneInfo): Promise<ReturnType<typeof connect>> {
  const admin = connect({ kubeconfig: info.kubeconfigs.admin });
  await installCrds(admin);
  await grantOperatorRbac(admin);
  await createNamespace(admin, 'apisec-system');
  return admin;
}

/** Phase 1, on a control plane of its own (the operator's run starts from the same empty state). */
async function baseline(): Promise<BaselineResult> {
  const info = await startControlPlane({ tieToThisProcess: true });
  const admin = await prepared(info);
  const bare = connect({ kubeconfig: info.kubeconfigs.operator });
  try {
    const l = layoutOf('apisec-bench-base');
    await createFixtures(admin, l);
    const writes = await recordColdWrites(admin, Array.from({ length: l.namespaces }, (_, j) => `${l.prefix}-${j}`), config.settings);
    return await replay(bare, writes, config.workers);
  } finally {
    await Promise.all([admin.close(), bare.close()]);
    await stopControlPlane(info);
  }
}

function versions(apiserver: string): ScaleResult['versions'] {
  const git = (...args: string[]): string => {
    try {
      return execFileSync('git', args, { cwd: repoRoot, encoding: 'utf8' }).trim();
    } catch {
      return '';
    }
  };
  const dirty = git('status', '--porcelain', '--untracked-files=no') ? '-dirty' : '';
  const pkg = JSON.parse(execFileSync('git', ['show', 'HEAD:package.json'], { cwd: repoRoot, encoding: 'utf8' })) as { version: string };
  return { node: process.version, operator: pkg.version, commit: `${git('rev-parse', '--short', 'HEAD')}${dirty}`, kubeApiserver: apiserver };
}

async function main(): Promise<void> {
  process.stderr.write(`bench: baseline (${policies} policies)\n`);
  const base = await baseline();
  process.stderr.write(`bench: baseline ${base.seconds.toFixed(1)} s; operator phases\n`);
  const info = await startControlPlane({ tieToThisProcess: true });
  const admin = await prepared(info);
  try {
    const apiserver = ((await admin.request<{ gitVersion?: string }>('GET', '/version', { verb: 'get' })).gitVersion ?? '?');
    const l = layoutOf('apisec-bench');
    const t0 = performance.now();
    await createFixtures(admin, l);
    const setupSeconds = (performance.now() - t0) / 1000;
    const phases = await runOperatorPhases({
      info,
      admin,
      layout: l,
      workers: config.workers,
      build: operatorBuild,
      nodeFlags,
      baselineSeconds: base.seconds,
      latency: { updates: int('updates', values.updates, 1), rate: Number(values.rate) },
      idleSeconds: int('idle', values.idle ?? (quick ? '10' : '60'), 1),
      timeoutMs: int('timeout', values.timeout, 1) * 1000,
    });
    const result: ScaleResult = {
      label: values.label ?? '',
      at: new Date().toISOString(),
      command: `npm run bench -- ${process.argv.slice(2).join(' ')}`.trim(),
      machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? '?', memoryGB: +(totalmem() / 2 ** 30).toFixed(1), kernel: release(), loadAverage: loadavg().map((x) => +x.toFixed(2)) },
      versions: versions(apiserver),
      layout: { policies, namespaces: l.namespaces, workers: config.workers, operator: operatorBuild, quick, memoryLimitMiB, nodeFlags: nodeFlags.join(' ') },
      setupSeconds: +setupSeconds.toFixed(1),
      baseline: base,
      ...phases,
    };
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, JSON.stringify(result, null, 2) + '\n');
    writeFileSync(out.replace(/\.json$/, '') + '.svg', svg(result));
    process.stdout.write(`\n${markdown(result)}\nwrote ${out} and ${out.replace(/\.json$/, '')}.svg\n`);
  } finally {
    await admin.close();
    // BENCH_KEEP=1 keeps the work directory (operator logs, audit log) for a look afterwards.
    await stopControlPlane(info, process.env.BENCH_KEEP !== '1');
    if (process.env.BENCH_KEEP === '1') process.stderr.write(`bench: kept ${info.workDir}\n`);
  }
}

await main();
