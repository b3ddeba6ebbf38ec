// The timed phases after the cold start: update latency at a fixed rate, and the quiet phases (idle, and
// after a restart) counted from the kube-apiserver's audit log. Every loop here is bounded.
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import type { KubeClient } from '../../src/k8s/client.ts';
import type { KubeObject } from '../../src/k8s/resources.ts';
import { identities } from '../../test/support/controlplane.ts';
import { apply } from '../../test/support/kube.ts';
import { BENCH_MANAGER, ingressName, namespaceOf, policyName, policyObject, type Layout } from './fixtures.ts';
import { convergedAt, type Pending, type Watches } from './watch.ts';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export interface Percentiles {
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

const summary = (values: number[]): Percentiles => {
  const s = [...values].sort((a, b) => a - b);
  const r = (x: number): number => +x.toFixed(1);
  return { p50: r(percentile(s, 50)), p95: r(percentile(s, 95)), p99: r(percentile(s, 99)), max: r(s[s.length - 1] ?? NaN) };
};

export interface LatencyResult {
  updates: number;
  ratePerSecond: number;
  /** Updates whose artifacts and status were both seen within the timeout. */
  seen: number;
  /** Update response → the Ingress annotation with the new value, through a watch (ms). */
  artifactMs: Percentiles;
  /** Update response → status Enforced at the new generation, through a watch (ms). */
  statusMs: Percentiles;
  /** Update response → both (ms). */
  bothMs: Percentiles;
  sendSeconds: number;
}

/** One update: the policy's rate limit changes to `rps`; the response gives its generation. */
async function sendUpdate(admin: KubeClient, watches: Watches, l: Layout, { i, rps }: { i: number; rps: number }): Promise<Pending> {
  const ns = namespaceOf(l, i);
  const u: Pending = { policy: `${ns}/${policyName(i)}`, ingress: `${ns}/${ingressName(i)}`, rps: String(rps) };
  watches.expect(u);
  const res = await apply<KubeObject>(admin, policyObject(l, i, rps), BENCH_MANAGER);
  u.answeredAt = performance.now();
  u.generation = res.metadata.generation ?? 0;
  // Seen before the answer arrived (the watch can be faster than the response): count it as now.
  const cached = watches.policies.get(u.policy);
  if (cached && convergedAt(cached, u.generation)) u.statusAt ??= u.answeredAt;
  return u;
}

/** `updates` policy updates at `rate` per second, each to a different policy; waits up to timeoutMs for the last. */
/** `base`: the first rate limit written (each update a new value, so that every one changes the policy). */
export async function latencyPhase(admin: KubeClient, watches: Watches, l: Layout, opts: { updates: number; rate: number; timeoutMs: number; base?: number }): Promise<LatencyResult> {
  const count = Math.min(opts.updates, l.policies);
  const started = performance.now();
  const sent: Promise<Pending>[] = [];
  for (let k = 0; k < count; k++) {
    const due = started + (k * 1000) / opts.rate;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    // Spread over the policies (and so the namespaces); a new value each time.
    sent.push(sendUpdate(admin, watches, l, { i: Math.floor((k * l.policies) / count), rps: (opts.base ?? 1000) + k }));
  }
  const all = await Promise.all(sent);
  const sendSeconds = (performance.now() - started) / 1000;
  const deadline = performance.now() + opts.timeoutMs;
  while (performance.now() < deadline && all.some((u) => u.artifactAt === undefined || u.statusAt === undefined)) await sleep(50);
  const done = all.filter((u) => u.artifactAt !== undefined && u.statusAt !== undefined && u.answeredAt !== undefined);
  const since = (u: Pending, at: number): number => Math.max(0, at - u.answeredAt!);
  return {
    updates: count,
    ratePerSecond: opts.rate,
    seen: done.length,
    artifactMs: summary(done.map((u) => since(u, u.artifactAt!))),
    statusMs: summary(done.map((u) => since(u, u.statusAt!))),
    bothMs: summary(done.map((u) => since(u, Math.max(u.artifactAt!, u.statusAt!)))),
    sendSeconds: +sendSeconds.toFixed(1),
  };
}

const MUTATING = new Set(['create', 'update', 'patch', 'delete', 'deletecollection']);

/** The operator identity's mutating requests in the audit log, Lease renewals excluded. */
export class AuditLog {
  private readonly path: string;

  constructor(path: string) {
    this.path = path;
  }

  /** Where the log ends now: count from here. */
  mark(): number {
    return statSync(this.path).size;
  }

  /** Mutating requests by the operator since `from`, by "verb resource[/subresource]". */
  writesSince(from: number): { total: number; byRequest: Record<string, number> } {
    const byRequest: Record<string, number> = {};
    let total = 0;
    for (const line of this.read(from).split('\n')) {
      if (!line.includes(identities.operator.user)) continue;
      const e = JSON.parse(line) as { stage?: string; verb?: string; user?: { username?: string }; objectRef?: { resource?: string; subresource?: string } };
      if (e.stage !== 'ResponseComplete' || e.user?.username !== identities.operator.user || !MUTATING.has(e.verb ?? '')) continue;
      if (e.objectRef?.resource === 'leases') continue;
      const what = `${e.verb} ${e.objectRef?.resource ?? '?'}${e.objectRef?.subresource ? `/${e.objectRef.subresource}` : ''}`;
      byRequest[what] = (byRequest[what] ?? 0) + 1;
      total++;
    }
    return { total, byRequest };
  }

  private read(from: number): string {
    const size = statSync(this.path).size;
    const fd = openSync(this.path, 'r');
    try {
      const buf = Buffer.alloc(Math.max(0, size - from));
      let off = 0;
      while (off < buf.length) {
        const n = readSync(fd, buf, off, buf.length - off, from + off);
        if (n === 0) break;
        off += n;
      }
      // Only whole lines: the last one may still be being written.
      const text = buf.subarray(0, off).toString('utf8');
      return text.slice(0, text.lastIndexOf('\n') + 1);
    } finally {
      closeSync(fd);
    }
  }
}
