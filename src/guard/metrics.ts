// The guard's Prometheus series, on its own Registry. Label values are bounded: the policy label is
// namespace/name only for policies the guard knows (a made-up name in the URL counts under ""), and
// reasons come from the fixed set in decide.ts.
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

export interface GuardMetrics {
  registry: Registry;
  decisions: Counter<'policy' | 'result' | 'reason'>;
  latency: Histogram<'result'>;
  suspicious: Counter<'policy'>;
  jwksFetches: Counter<'outcome'>;
  rateLimited: Counter<'policy' | 'key' | 'result'>;
  storeErrors: Counter;
  storeUp: Gauge;
}

export function guardMetrics(registry = new Registry()): GuardMetrics {
  return {
    registry,
    decisions: new Counter({ name: 'apisec_guard_decisions_total', help: 'Decisions by policy (namespace/name), result (allow, deny) and reason.', labelNames: ['policy', 'result', 'reason'], registers: [registry] }),
    latency: new Histogram({
      name: 'apisec_guard_decision_duration_seconds',
      help: 'Time from a check request to its answer.',
      labelNames: ['result'],
      buckets: [0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers: [registry],
    }),
    suspicious: new Counter({ name: 'apisec_guard_suspicious_clients_total', help: 'Clients that failed authentication repeatedly within the window (brute force, credential stuffing), by policy.', labelNames: ['policy'], registers: [registry] }),
    jwksFetches: new Counter({ name: 'apisec_guard_jwks_fetches_total', help: 'Fetches of discovery documents and signing keys, by outcome.', labelNames: ['outcome'], registers: [registry] }),
    rateLimited: new Counter({
      name: 'apisec_guard_rate_limit_total',
      help: 'Requests counted by a global rate limit, by policy, key kind (ClientIP, Header) and result (allowed, limited, store_unavailable_allowed, store_unavailable_denied).',
      labelNames: ['policy', 'key', 'result'],
      registers: [registry],
    }),
    storeErrors: new Counter({ name: 'apisec_guard_rate_limit_store_errors_total', help: 'Counts the rate-limit store could not answer (unreachable, timed out).', registers: [registry] }),
    storeUp: new Gauge({ name: 'apisec_guard_rate_limit_store_up', help: '1 when the last count reached the rate-limit store, 0 when it failed.', registers: [registry] }),
  };
}
