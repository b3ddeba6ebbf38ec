// A minimal Prometheus registry rendering the text exposition format 0.0.4: enough for the operator's
// own counters, gauges and histograms without a dependency. Label names are fixed when a metric is
// created and only values come from callers, so cardinality stays bounded by design.

export type MetricType = 'counter' | 'gauge' | 'histogram';

/** Values for every label the metric was created with (and no others). */
export type Labels<L extends string> = Readonly<Record<L, string>>;

export interface Metric {
  readonly name: string;
  readonly help: string;
  readonly type: MetricType;
  /** The sample lines, without HELP and TYPE. */
  samples(): string[];
}

export interface MetricOptions<L extends string> {
  name: string;
  help: string;
  labels?: readonly L[];
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** Prometheus client defaults: 5 ms to 10 s, suited to request and reconcile latencies. */
export const DEFAULT_BUCKETS: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export function escapeLabelValue(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function escapeHelp(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

export function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

function labelText(names: readonly string[], values: readonly string[], extra?: [string, string]): string {
  const pairs = names.map((n, i) => `${n}="${escapeLabelValue(values[i] ?? '')}"`);
  if (extra) pairs.push(`${extra[0]}="${escapeLabelValue(extra[1])}"`);
  return pairs.length ? `{${pairs.join(',')}}` : '';
}

/** Shared by all metric kinds: validates names and maps label values to one series each. */
abstract class Base<L extends string, S> implements Metric {
  readonly name: string;
  readonly help: string;
  abstract readonly type: MetricType;
  protected readonly labelNames: readonly L[];
  protected readonly series = new Map<string, { values: string[]; state: S }>();

  constructor(opts: MetricOptions<L>, reserved: readonly string[] = []) {
    if (!METRIC_NAME.test(opts.name)) throw new Error(`invalid metric name ${JSON.stringify(opts.name)}`);
    this.name = opts.name;
    this.help = opts.help;
    this.labelNames = [...(opts.labels ?? [])];
    for (const l of this.labelNames) {
      if (!LABEL_NAME.test(l) || l.startsWith('__') || reserved.includes(l)) throw new Error(`invalid label name ${JSON.stringify(l)} for ${opts.name}`);
    }
    if (new Set(this.labelNames).size !== this.labelNames.length) throw new Error(`duplicate label names for ${opts.name}`);
  }

  protected abstract initial(): S;
  abstract samples(): string[];

  protected valuesOf(labels: Partial<Record<string, string>> | undefined): string[] {
    const given = labels ?? {};
    if (Object.keys(given).length !== this.labelNames.length) {
      throw new Error(`${this.name} takes labels [${this.labelNames.join(', ')}], got [${Object.keys(given).join(', ')}]`);
    }
    return this.labelNames.map((n) => {
      const v = given[n];
      if (typeof v !== 'string') throw new Error(`${this.name}: label ${n} is missing`);
      return v;
    });
  }

  protected stateFor(labels: Partial<Record<string, string>> | undefined): S {
    const values = this.valuesOf(labels);
    const key = JSON.stringify(values);
    let s = this.series.get(key);
    if (!s) {
      s = { values, state: this.initial() };
      this.series.set(key, s);
    }
    return s.state;
  }

  protected existing(labels: Partial<Record<string, string>> | undefined): S | undefined {
    return this.series.get(JSON.stringify(this.valuesOf(labels)))?.state;
  }

  /** The series to export: a metric without labels has exactly one, exported as zero from the start. */
  protected entries(): { values: string[]; state: S }[] {
    const all = [...this.series.values()];
    return all.length === 0 && this.labelNames.length === 0 ? [{ values: [], state: this.initial() }] : all;
  }
}

/** Splits the (labels?, value?) argument forms: inc(), inc(2), inc({a: 'x'}), inc({a: 'x'}, 2). */
function args<L extends string>(a: Labels<L> | number | undefined, b: number | undefined, dflt?: number): [Labels<L> | undefined, number] {
  if (typeof a === 'number') return [undefined, a];
  const v = b ?? dflt;
  if (v === undefined) throw new Error('a value is required');
  return [a, v];
}

export class Counter<L extends string = never> extends Base<L, { value: number }> {
  readonly type = 'counter';

  protected initial(): { value: number } {
    return { value: 0 };
  }

  inc(value?: number): void;
  inc(labels: Labels<L>, value?: number): void;
  inc(a?: Labels<L> | number, b?: number): void {
    const [labels, value] = args(a, b, 1);
    if (!(value >= 0)) throw new Error(`${this.name}: a counter only goes up (got ${value})`);
    this.stateFor(labels).value += value;
  }

  /** The current value (for tests and health checks). */
  get(labels?: Labels<L>): number {
    return this.existing(labels)?.value ?? 0;
  }

  samples(): string[] {
    return this.entries().map((s) => `${this.name}${labelText(this.labelNames, s.values)} ${formatValue(s.state.value)}`);
  }
}

export interface GaugeSample<L extends string> {
  labels: Labels<L>;
  value: number;
}

export interface GaugeOptions<L extends string> extends MetricOptions<L> {
  /** Reads the current value(s) at scrape time instead of set(): a number for a gauge without labels. */
  collect?: () => number | readonly GaugeSample<L>[];
}

export class Gauge<L extends string = never> extends Base<L, { value: number }> {
  readonly type = 'gauge';
  private readonly collect?: GaugeOptions<L>['collect'];

  constructor(opts: GaugeOptions<L>) {
    super(opts);
    this.collect = opts.collect;
  }

  protected initial(): { value: number } {
    return { value: 0 };
  }

  set(value: number): void;
  set(labels: Labels<L>, value: number): void;
  set(a: Labels<L> | number, b?: number): void {
    const [labels, value] = args(a, b);
    this.stateFor(labels).value = value;
  }

  inc(value?: number): void;
  inc(labels: Labels<L>, value?: number): void;
  inc(a?: Labels<L> | number, b?: number): void {
    const [labels, value] = args(a, b, 1);
    this.stateFor(labels).value += value;
  }

  dec(value?: number): void;
  dec(labels: Labels<L>, value?: number): void;
  dec(a?: Labels<L> | number, b?: number): void {
    const [labels, value] = args(a, b, 1);
    this.stateFor(labels).value -= value;
  }

  /** Drops one series, e.g. for a queue that no longer exists. */
  remove(labels: Labels<L>): void {
    this.series.delete(JSON.stringify(this.valuesOf(labels)));
  }

  get(labels?: Labels<L>): number {
    return this.existing(labels)?.value ?? 0;
  }

  samples(): string[] {
    if (this.collect) {
      const got = this.collect();
      const list = typeof got === 'number' ? [{ values: this.valuesOf(undefined), value: got }] : got.map((s) => ({ values: this.valuesOf(s.labels), value: s.value }));
      return list.map((s) => `${this.name}${labelText(this.labelNames, s.values)} ${formatValue(s.value)}`);
    }
    return this.entries().map((s) => `${this.name}${labelText(this.labelNames, s.values)} ${formatValue(s.state.value)}`);
  }
}

export interface HistogramOptions<L extends string> extends MetricOptions<L> {
  /** Upper bounds, ascending; +Inf is implied. Defaults to DEFAULT_BUCKETS. */
  buckets?: readonly number[];
}

interface HistogramState {
  /** Per bucket (not cumulative); the extra last slot counts observations above every bound. */
  counts: number[];
  sum: number;
  count: number;
}

export class Histogram<L extends string = never> extends Base<L, HistogramState> {
  readonly type = 'histogram';
  readonly buckets: readonly number[];

  constructor(opts: HistogramOptions<L>) {
    const buckets = [...(opts.buckets ?? DEFAULT_BUCKETS)];
    if (buckets.some((b, i) => !Number.isFinite(b) || (i > 0 && b <= buckets[i - 1]!))) {
      throw new Error(`${opts.name}: buckets must be finite and strictly ascending`);
    }
    super(opts, ['le']);
    this.buckets = buckets;
  }

  protected initial(): HistogramState {
    return { counts: new Array<number>(this.buckets.length + 1).fill(0), sum: 0, count: 0 };
  }

  observe(value: number): void;
  observe(labels: Labels<L>, value: number): void;
  observe(a: Labels<L> | number, b?: number): void {
    const [labels, value] = args(a, b);
    const s = this.stateFor(labels);
    let i = this.buckets.findIndex((bound) => value <= bound);
    if (i < 0) i = this.buckets.length;
    s.counts[i]! += 1;
    s.sum += value;
    s.count += 1;
  }

  /** Observes the seconds from now until the returned function is called. */
  startTimer(labels?: Labels<L>): () => number {
    const started = performance.now();
    return (): number => {
      const seconds = (performance.now() - started) / 1000;
      if (labels) this.observe(labels, seconds);
      else this.observe(seconds);
      return seconds;
    };
  }

  samples(): string[] {
    const lines: string[] = [];
    for (const { values, state } of this.entries()) {
      let cumulative = 0;
      this.buckets.forEach((bound, i) => {
        cumulative += state.counts[i] ?? 0;
        lines.push(`${this.name}_bucket${labelText(this.labelNames, values, ['le', formatValue(bound)])} ${cumulative}`);
      });
      lines.push(`${this.name}_bucket${labelText(this.labelNames, values, ['le', '+Inf'])} ${state.count}`);
      lines.push(`${this.name}_sum${labelText(this.labelNames, values)} ${formatValue(state.sum)}`);
      lines.push(`${this.name}_count${labelText(this.labelNames, values)} ${state.count}`);
    }
    return lines;
  }
}

export class Registry {
  private readonly metrics = new Map<string, Metric>();

  register<M extends Metric>(metric: M): M {
    if (this.metrics.has(metric.name)) throw new Error(`metric ${metric.name} is already registered`);
    this.metrics.set(metric.name, metric);
    return metric;
  }

  /** The whole registry in the text exposition format 0.0.4 (ends with a newline, as the format requires). */
  render(): string {
    const lines: string[] = [];
    for (const m of this.metrics.values()) {
      lines.push(`# HELP ${m.name} ${escapeHelp(m.help)}`, `# TYPE ${m.name} ${m.type}`, ...m.samples());
    }
    return lines.length ? `${lines.join('\n')}\n` : '';
  }
}

export type ReconcileResult = 'success' | 'error' | 'requeue';

export interface OperatorMetrics {
  reconcileTotal: Counter<'controller' | 'result'>;
  reconcileErrors: Counter<'controller'>;
  reconcileDuration: Histogram<'controller'>;
  queueDepth: Gauge<'name'>;
  queueAdds: Counter<'name'>;
  queueRetries: Counter<'name'>;
  apiRequests: Counter<'verb' | 'resource' | 'code'>;
  informerHealthy: Gauge<'resource'>;
  informerRestarts: Gauge<'resource'>;
  isLeader: Gauge;
  writesTotal: Counter<'kind' | 'operation'>;
}

/** The operator's metrics, registered on registry. Every label value must come from a bounded set. */
export function operatorMetrics(registry: Registry): OperatorMetrics {
  const r = registry;
  return {
    reconcileTotal: r.register(
      new Counter({ name: 'apisec_reconcile_total', help: 'Reconciliations by controller and result (success, error, requeue).', labels: ['controller', 'result'] }),
    ),
    reconcileErrors: r.register(new Counter({ name: 'apisec_reconcile_errors_total', help: 'Reconciliations that failed, by controller.', labels: ['controller'] })),
    reconcileDuration: r.register(
      new Histogram({ name: 'apisec_reconcile_duration_seconds', help: 'Time spent in one reconciliation.', labels: ['controller'], buckets: DEFAULT_BUCKETS }),
    ),
    queueDepth: r.register(new Gauge({ name: 'apisec_workqueue_depth', help: 'Keys waiting in the work queue.', labels: ['name'] })),
    queueAdds: r.register(new Counter({ name: 'apisec_workqueue_adds_total', help: 'Keys added to the work queue.', labels: ['name'] })),
    queueRetries: r.register(new Counter({ name: 'apisec_workqueue_retries_total', help: 'Keys requeued with backoff after a failure.', labels: ['name'] })),
    apiRequests: r.register(
      new Counter({ name: 'apisec_api_requests_total', help: 'Requests to the Kubernetes API by verb, resource and status code (0: network error).', labels: ['verb', 'resource', 'code'] }),
    ),
    informerHealthy: r.register(new Gauge({ name: 'apisec_informer_healthy', help: 'Whether the informer is synced and watching (1) or not (0).', labels: ['resource'] })),
    informerRestarts: r.register(new Gauge({ name: 'apisec_informer_restarts', help: 'Times the informer restarted after an error since the process started.', labels: ['resource'] })),
    isLeader: r.register(new Gauge({ name: 'apisec_leader', help: 'Whether this replica holds the leader lease (1) or not (0).' })),
    writesTotal: r.register(
      new Counter({ name: 'apisec_writes_total', help: "The operator's own mutating API requests, by kind and operation.", labels: ['kind', 'operation'] }),
    ),
  };
}
