import { register as globalRegistry } from 'prom-client';
import type { InformerHealth } from '../k8s/informer.ts';
import { Registry, inventoryMetrics, operatorMetrics, runtimeMetrics } from './metrics.ts';

const types = (text: string): string[] => [...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((x) => `${x[1]} ${x[2]}`);

describe('operatorMetrics', () => {
  it('registers the operator metrics under the apisec_ prefix, counters ending in _total', async () => {
    const r = new Registry();
    const m = operatorMetrics(r);
    m.reconcileTotal.inc({ controller: 'policy', result: 'requeue' });
    m.reconcileDuration.observe({ controller: 'policy' }, 0.2);
    m.apiRequests.inc({ verb: 'get', resource: 'leases', code: '200' });
    m.isLeader.set(1);
    const text = await r.metrics();
    expect(types(text)).toEqual([
      'apisec_reconcile_total counter',
      'apisec_reconcile_errors_total counter',
      'apisec_reconcile_terminal_errors_total counter',
      'apisec_reconcile_duration_seconds histogram',
      'apisec_workqueue_depth gauge',
      'apisec_workqueue_oldest_waiting_seconds gauge',
      'apisec_workqueue_adds_total counter',
      'apisec_workqueue_retries_total counter',
      'apisec_api_requests_total counter',
      'apisec_informer_healthy gauge',
      'apisec_informer_restarts_total counter',
      'apisec_informer_relists_total counter',
      'apisec_leader gauge',
      'apisec_leader_transitions_total counter',
      'apisec_writes_total counter',
      'apisec_drift_total counter',
    ]);
    expect(text).toContain('apisec_reconcile_total{controller="policy",result="requeue"} 1\n');
    expect(text).toContain('apisec_reconcile_duration_seconds_bucket{le="0.005",controller="policy"} 0\n');
    expect(text).toContain('apisec_reconcile_duration_seconds_bucket{le="10",controller="policy"} 1\n');
    expect(text).toContain('apisec_api_requests_total{verb="get",resource="leases",code="200"} 1\n');
    expect(text).toContain('apisec_leader 1\n');
  });

  it('shows a registered controller at zero before any work, then counts its queue and reconciles', async () => {
    const r = new Registry();
    const m = operatorMetrics(r);
    const c = m.controller('policyreport');
    const before = await r.metrics();
    for (const result of ['success', 'error', 'requeue']) expect(before).toContain(`apisec_reconcile_total{controller="policyreport",result="${result}"} 0\n`);
    expect(before).toContain('apisec_reconcile_errors_total{controller="policyreport"} 0\n');
    expect(before).toContain('apisec_reconcile_duration_seconds_count{controller="policyreport"} 0\n');
    expect(before).toContain('apisec_workqueue_adds_total{name="policyreport"} 0\n');
    expect(before).toContain('apisec_workqueue_retries_total{name="policyreport"} 0\n');
    expect(before).toContain('apisec_workqueue_depth{name="policyreport"} 0\n');

    let health: InformerHealth[] = [{ resource: 'policyreports', synced: true, healthy: true, restarts: 2, relists: 3, expired: 1 }];
    c.observe({ queue: { depth: 3 }, health: () => health });
    c.queue.added();
    c.queue.added();
    c.queue.retried();
    c.reconciled('error', 0.5);
    const after = await r.metrics();
    expect(after).toContain('apisec_workqueue_depth{name="policyreport"} 3\n');
    expect(after).toContain('apisec_workqueue_adds_total{name="policyreport"} 2\n');
    expect(after).toContain('apisec_workqueue_retries_total{name="policyreport"} 1\n');
    expect(after).toContain('apisec_reconcile_total{controller="policyreport",result="error"} 1\n');
    expect(after).toContain('apisec_reconcile_errors_total{controller="policyreport"} 1\n');
    expect(after).toContain('apisec_informer_healthy{resource="policyreports"} 1\n');
    expect(after).toContain('apisec_informer_restarts_total{resource="policyreports"} 2\n');
    expect(after).toContain('apisec_informer_relists_total{resource="policyreports",cause="expired"} 1\n');
    expect(after).toContain('apisec_informer_relists_total{resource="policyreports",cause="error"} 2\n');

    // A dead informer shows as 0; one that is gone (reports disabled) leaves no series.
    health = [{ resource: 'policyreports', synced: true, healthy: false, restarts: 3, relists: 3, expired: 1 }];
    expect(await r.metrics()).toContain('apisec_informer_healthy{resource="policyreports"} 0\n');
    health = [];
    expect(await r.metrics()).not.toContain('apisec_informer_healthy{');
    expect(() => m.controller('policyreport')).toThrow(/already registered/);
  });

  it('keeps each operator on its own registry, off the global one', async () => {
    const a = new Registry();
    const b = new Registry();
    operatorMetrics(a).isLeader.set(1);
    operatorMetrics(b); // the same names again: no collision
    expect(await a.metrics()).toContain('apisec_leader 1\n');
    expect(await b.metrics()).toContain('apisec_leader 0\n');
    expect(await globalRegistry.metrics()).not.toContain('apisec_');
  });
});

describe('inventoryMetrics', () => {
  it('reads the inventory at scrape time and drops series that are gone', async () => {
    const r = new Registry();
    let uncovered = [{ labels: { namespace: 'shop', kind: 'Ingress' }, value: 2 }];
    inventoryMetrics(r, { uncoveredSamples: () => uncovered, coverageSamples: () => [{ labels: { coverage: 'none' }, value: 2 }] });
    expect(await r.metrics()).toContain('apisec_uncovered_apis{namespace="shop",kind="Ingress"} 2\n');
    uncovered = [];
    const text = await r.metrics();
    expect(text).not.toContain('apisec_uncovered_apis{');
    expect(text).toContain('apisec_apis{coverage="none"} 2\n');
  });
});

describe('runtimeMetrics', () => {
  it("adds prom-client's process and Node.js metrics", async () => {
    const r = new Registry();
    runtimeMetrics(r);
    const text = await r.metrics();
    for (const name of ['process_cpu_seconds_total', 'process_resident_memory_bytes', 'process_open_fds', 'nodejs_heap_size_used_bytes', 'nodejs_eventloop_lag_seconds']) {
      expect(text).toMatch(new RegExp(`^${name} \\d`, 'm'));
    }
    expect(r.contentType).toBe('text/plain; version=0.0.4; charset=utf-8');
  });
});
