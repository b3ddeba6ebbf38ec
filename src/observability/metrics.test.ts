import { Counter, Gauge, Histogram, Registry, escapeLabelValue, operatorMetrics } from './metrics.ts';

describe('Registry.render', () => {
  it('renders a labelled counter', () => {
    const r = new Registry();
    const c = r.register(new Counter({ name: 'apisec_test_total', help: 'Things counted.', labels: ['controller', 'result'] }));
    c.inc({ controller: 'policy', result: 'success' });
    c.inc({ controller: 'policy', result: 'success' }, 2);
    c.inc({ controller: 'policy', result: 'error' });
    expect(r.render()).toBe(
      [
        '# HELP apisec_test_total Things counted.',
        '# TYPE apisec_test_total counter',
        'apisec_test_total{controller="policy",result="success"} 3',
        'apisec_test_total{controller="policy",result="error"} 1',
        '',
      ].join('\n'),
    );
  });

  it('renders gauges, set or collected, and a label-less metric as zero before any update', () => {
    const r = new Registry();
    const depth = r.register(new Gauge({ name: 'apisec_depth', help: 'Queue depth.', labels: ['name'] }));
    r.register(new Gauge({ name: 'apisec_leader', help: 'Leader.' }));
    r.register(
      new Gauge({
        name: 'apisec_healthy',
        help: 'Health.',
        labels: ['resource'],
        collect: () => [
          { labels: { resource: 'ingresses' }, value: 1 },
          { labels: { resource: 'services' }, value: 0 },
        ],
      }),
    );
    depth.set({ name: 'policies' }, 4);
    depth.dec({ name: 'policies' });
    depth.set({ name: 'gone' }, 1);
    depth.remove({ name: 'gone' });
    expect(r.render()).toBe(
      [
        '# HELP apisec_depth Queue depth.',
        '# TYPE apisec_depth gauge',
        'apisec_depth{name="policies"} 3',
        '# HELP apisec_leader Leader.',
        '# TYPE apisec_leader gauge',
        'apisec_leader 0',
        '# HELP apisec_healthy Health.',
        '# TYPE apisec_healthy gauge',
        'apisec_healthy{resource="ingresses"} 1',
        'apisec_healthy{resource="services"} 0',
        '',
      ].join('\n'),
    );
  });

  it('renders a labelled histogram with cumulative buckets, +Inf, _sum and _count', () => {
    const r = new Registry();
    const h = r.register(new Histogram({ name: 'apisec_seconds', help: 'Durations.', labels: ['controller'], buckets: [0.1, 1, 5] }));
    h.observe({ controller: 'policy' }, 0.05);
    h.observe({ controller: 'policy' }, 0.1); // a bound is inclusive (le)
    h.observe({ controller: 'policy' }, 2);
    h.observe({ controller: 'policy' }, 30);
    expect(r.render()).toBe(
      [
        '# HELP apisec_seconds Durations.',
        '# TYPE apisec_seconds histogram',
        'apisec_seconds_bucket{controller="policy",le="0.1"} 2',
        'apisec_seconds_bucket{controller="policy",le="1"} 2',
        'apisec_seconds_bucket{controller="policy",le="5"} 3',
        'apisec_seconds_bucket{controller="policy",le="+Inf"} 4',
        'apisec_seconds_sum{controller="policy"} 32.15',
        'apisec_seconds_count{controller="policy"} 4',
        '',
      ].join('\n'),
    );
  });

  it('escapes backslash, double quote and newline in label values, and backslash and newline in help', () => {
    expect(escapeLabelValue('a\\b"c\nd')).toBe('a\\\\b\\"c\\nd');
    const r = new Registry();
    const c = r.register(new Counter({ name: 'apisec_escape_total', help: 'Line one\nwith C:\\path', labels: ['v'] }));
    c.inc({ v: 'say "hi"\\\nbye' });
    expect(r.render()).toBe(
      [
        '# HELP apisec_escape_total Line one\\nwith C:\\\\path',
        '# TYPE apisec_escape_total counter',
        'apisec_escape_total{v="say \\"hi\\"\\\\\\nbye"} 1',
        '',
      ].join('\n'),
    );
  });

  it('refuses unknown or missing labels, negative increments, bad names and duplicates', () => {
    const r = new Registry();
    const c = r.register(new Counter({ name: 'apisec_x_total', help: 'x', labels: ['a'] }));
    expect(() => c.inc({ a: '1', b: '2' } as never)).toThrow(/takes labels \[a\]/);
    expect(() => c.inc({} as never)).toThrow(/takes labels/);
    expect(() => c.inc({ a: '1' }, -1)).toThrow(/only goes up/);
    expect(() => new Counter({ name: 'bad-name', help: 'x' })).toThrow(/invalid metric name/);
    expect(() => new Histogram({ name: 'apisec_h', help: 'x', labels: ['le'] })).toThrow(/invalid label name/);
    expect(() => new Histogram({ name: 'apisec_h', help: 'x', buckets: [1, 1] })).toThrow(/ascending/);
    expect(() => r.register(new Counter({ name: 'apisec_x_total', help: 'again' }))).toThrow(/already registered/);
  });
});

describe('operatorMetrics', () => {
  it('registers the operator metrics under the apisec_ prefix', () => {
    const r = new Registry();
    const m = operatorMetrics(r);
    m.reconcileTotal.inc({ controller: 'policy', result: 'requeue' });
    m.reconcileDuration.observe({ controller: 'policy' }, 0.2);
    m.apiRequests.inc({ verb: 'get', resource: 'leases', code: '200' });
    m.isLeader.set(1);
    const text = r.render();
    const types = [...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((x) => `${x[1]} ${x[2]}`);
    expect(types).toEqual([
      'apisec_reconcile_total counter',
      'apisec_reconcile_errors_total counter',
      'apisec_reconcile_duration_seconds histogram',
      'apisec_workqueue_depth gauge',
      'apisec_workqueue_adds_total counter',
      'apisec_workqueue_retries_total counter',
      'apisec_api_requests_total counter',
      'apisec_informer_healthy gauge',
      'apisec_informer_restarts gauge',
      'apisec_leader gauge',
      'apisec_writes_total counter',
    ]);
    expect(text).toContain('apisec_reconcile_total{controller="policy",result="requeue"} 1\n');
    expect(text).toContain('apisec_reconcile_duration_seconds_bucket{controller="policy",le="0.005"} 0\n');
    expect(text).toContain('apisec_reconcile_duration_seconds_bucket{controller="policy",le="10"} 1\n');
    expect(text).toContain('apisec_api_requests_total{verb="get",resource="leases",code="200"} 1\n');
    expect(text).toContain('apisec_leader 1\n');
  });
});
