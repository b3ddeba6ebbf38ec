// The wgpolicyk8s.io/v1alpha2 PolicyReport of one namespace: the format policy dashboards read (Policy
// Reporter, Kyverno's UI, kubectl get polr). One result per (policy, control) from each policy's status,
// and one `fail` per API no policy covers. Pure and deterministic: no timestamps and a fixed
// order, so an unchanged namespace renders identically and the controller can skip the write; empty
// fields are left out, so what is applied round-trips exactly. Bounded: at most `maxResults` results and
// about `maxBytes` of them (fails first, then warns, then the rest); the summary counts every result, and
// the annotation apisec.dev/results-omitted and a last `skip` result say how many were left out.
import type { ControlName, ControlResult } from '../api/v1alpha1.ts';
import { LABEL_MANAGED_BY, MANAGED_BY } from './labels.ts';

export const REPORT_NAME = 'api-security-operator';
export const REPORT_SOURCE = 'api-security-operator';
export const INVENTORY_POLICY = 'apisec-inventory';
export const ANNOTATION_OMITTED = 'apisec.dev/results-omitted';
export const MAX_RESULTS = 500;
/** Leaves room under etcd's 1.5 MiB object limit for metadata and managedFields. */
export const MAX_RESULT_BYTES = 800_000;

export type ReportResultValue = 'pass' | 'fail' | 'warn' | 'error' | 'skip';
export type Severity = 'critical' | 'high' | 'medium' | 'low' | 'info';

export interface ObjectReference {
  apiVersion: string;
  kind: string;
  name: string;
  namespace: string;
  uid?: string;
}

export interface PolicyReportResult {
  policy: string;
  rule: string;
  result: ReportResultValue;
  severity: Severity;
  category: string;
  message: string;
  source: string;
  /** Absent when the result is about no object (the note on omitted results). */
  resources?: ObjectReference[];
  /** Absent when empty: what is sent is exactly what the API server stores and returns. */
  properties?: Record<string, string>;
}

export interface PolicyReportSummary {
  pass: number;
  fail: number;
  warn: number;
  error: number;
  skip: number;
}

export interface PolicyReport {
  apiVersion: 'wgpolicyk8s.io/v1alpha2';
  kind: 'PolicyReport';
  metadata: { name: string; namespace: string; labels: Record<string, string>; annotations: Record<string, string> };
  summary: PolicyReportSummary;
  results: PolicyReportResult[];
}

/** A target of a policy, with its uid when the object exists. */
export interface ReportTarget {
  kind: 'Ingress' | 'Service' | 'HTTPRoute';
  name: string;
  uid?: string;
}

export interface ReportPolicy {
  name: string;
  targets: readonly ReportTarget[];
  /** status.controls; absent until the operator has evaluated the policy. */
  controls?: readonly ControlResult[];
  /** The Accepted condition of status, if any. */
  accepted?: { status: string; reason: string; message: string };
  /** The SidecarInjected condition of status (with sidecar injection), if any. */
  sidecarInjected?: { status: string; reason: string; message: string };
}

/** An API no policy covers (an entry of the inventory). */
export interface ReportApi {
  kind: 'Ingress' | 'Service' | 'HTTPRoute';
  name: string;
  uid?: string;
  hosts?: readonly string[];
  paths?: readonly string[];
  serviceType?: string;
}

export interface PolicyReportInput {
  namespace: string;
  policies: readonly ReportPolicy[];
  uncovered: readonly ReportApi[];
  maxResults?: number;
  maxBytes?: number;
}

const RESULT_OF: Record<ControlResult['result'], ReportResultValue> = { Pass: 'pass', Fail: 'fail', Warn: 'warn', NotApplicable: 'skip' };

/** How much a failing control exposes an API (in the spirit of the score weights of src/compliance). */
const SEVERITY_OF: Record<ControlName, Severity> = {
  Authentication: 'high',
  HTTPSOnly: 'high',
  RateLimit: 'high',
  Authorization: 'medium',
  NetworkIsolation: 'medium',
  RequestLimits: 'medium',
  WAF: 'medium',
  IPAccess: 'low',
  CORS: 'low',
  Logging: 'low',
};

const RESULT_RANK: Record<ReportResultValue, number> = { fail: 0, warn: 1, error: 2, pass: 3, skip: 4 };
const SEVERITY_RANK: Record<Severity, number> = { critical: 0, high: 1, medium: 2, low: 3, info: 4 };

const API_VERSION_OF: Record<ReportTarget['kind'], string> = { Ingress: 'networking.k8s.io/v1', Service: 'v1', HTTPRoute: 'gateway.networking.k8s.io/v1' };

const clip = (s: string, max: number): string => (s.length <= max ? s : `${s.slice(0, max - 1)}…`);
const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

function ref(namespace: string, t: ReportTarget | ReportApi): ObjectReference {
  return { apiVersion: API_VERSION_OF[t.kind], kind: t.kind, name: t.name, namespace, ...(t.uid ? { uid: t.uid } : {}) };
}

/** What a result says (the source is ours); the message is clipped, empty resources and properties are left out. */
type ResultInput = Omit<PolicyReportResult, 'source' | 'resources' | 'properties'> & { resources: ObjectReference[]; properties?: Record<string, string> };

function result({ resources, properties = {}, message, ...rest }: ResultInput): PolicyReportResult {
  return {
    ...rest,
    message: clip(message, 512),
    source: REPORT_SOURCE,
    ...(resources.length ? { resources } : {}),
    ...(Object.keys(properties).length ? { properties } : {}),
  };
}

function policyResults(namespace: string, p: ReportPolicy): PolicyReportResult[] {
  const all = p.targets.map((t) => ref(namespace, t));
  // Not evaluated as written (invalid spec, every target conflicted): controls in status may be stale.
  // With every target missing (TargetNotFound) the controls are evaluated, and fail: they are the report.
  if (p.accepted?.status === 'False' && p.accepted.reason !== 'TargetNotFound') {
    return [result({ policy: p.name, rule: 'Accepted', result: 'error', severity: 'medium', category: 'API Security', message: `${p.accepted.reason}: ${p.accepted.message}`, resources: all })];
  }
  const injected = p.sidecarInjected;
  // Pods that run without the sidecar (the webhook failed open, or refused them): not silent.
  const sidecar = injected
    ? [result({ policy: p.name, rule: 'SidecarInjected', result: injected.status === 'True' ? 'pass' : 'fail', severity: 'high', category: 'API Security', message: `${injected.reason}: ${injected.message}`, resources: all })]
    : [];
  return [...sidecar, ...(p.controls ?? []).map((c) => {
    const narrowed = c.target ? all.filter((r) => `${r.kind}/${r.name}` === c.target) : [];
    const properties: Record<string, string> = { enforcement: c.enforcement };
    if (c.fidelity) properties.fidelity = c.fidelity;
    if (c.remediation) properties.remediation = clip(c.remediation, 256);
    return result({
      policy: p.name,
      rule: c.control,
      result: RESULT_OF[c.result],
      severity: SEVERITY_OF[c.control] ?? 'medium',
      category: 'API Security',
      message: c.message,
      resources: narrowed.length ? narrowed : all,
      properties,
    });
  })];
}

function uncoveredResult(namespace: string, api: ReportApi): PolicyReportResult {
  const what = api.kind === 'Ingress' ? `hosts ${(api.hosts ?? []).join(', ')}; paths ${(api.paths ?? []).join(', ')}` : `type ${api.serviceType ?? ''}`;
  return result({
    policy: INVENTORY_POLICY,
    rule: 'covered',
    result: 'fail',
    severity: 'high',
    category: 'API Inventory',
    message: `${api.kind} ${api.name} (${what}) is exposed, but no ApiSecurityPolicy covers it`,
    resources: [ref(namespace, api)],
    properties: { remediation: `create an ApiSecurityPolicy with targetRefs naming ${api.kind} ${api.name}, or a ClusterApiSecurityPolicy baseline that selects the namespace` },
  });
}

const order = (a: PolicyReportResult, b: PolicyReportResult): number =>
  RESULT_RANK[a.result] - RESULT_RANK[b.result] ||
  SEVERITY_RANK[a.severity] - SEVERITY_RANK[b.severity] ||
  cmp(a.policy, b.policy) ||
  cmp(a.rule, b.rule) ||
  cmp(a.resources?.[0]?.kind ?? '', b.resources?.[0]?.kind ?? '') ||
  cmp(a.resources?.[0]?.name ?? '', b.resources?.[0]?.name ?? '') ||
  cmp(a.message, b.message);

const utf8 = new TextEncoder();

/** The namespace's report, or undefined when there is nothing to report (then no report should exist). */
export function renderPolicyReport(input: PolicyReportInput): PolicyReport | undefined {
  const { namespace } = input;
  const maxResults = Math.max(1, input.maxResults ?? MAX_RESULTS);
  const maxBytes = input.maxBytes ?? MAX_RESULT_BYTES;
  const all = [...input.policies.flatMap((p) => policyResults(namespace, p)), ...input.uncovered.map((u) => uncoveredResult(namespace, u))].sort(order);
  if (all.length === 0) return undefined;

  const summary: PolicyReportSummary = { pass: 0, fail: 0, warn: 0, error: 0, skip: 0 };
  for (const r of all) summary[r.result]++;

  const sizes = all.map((r) => utf8.encode(JSON.stringify(r)).length);
  let kept = all;
  let omitted = 0;
  if (all.length > maxResults || sizes.reduce((a, b) => a + b, 0) > maxBytes) {
    // Keep the most important results in order, leaving one slot for the note on what was left out.
    let bytes = 0;
    let n = 0;
    while (n < all.length && n < maxResults - 1 && bytes + (sizes[n] ?? 0) <= maxBytes) bytes += sizes[n++] ?? 0;
    omitted = all.length - n;
    const note = `${omitted} of ${all.length} results left out (at most ${maxResults} per report, fails and warns kept first); the summary counts all of them`;
    const truncated = result({ policy: 'apisec-report', rule: 'truncated', result: 'skip', severity: 'info', category: 'Report', message: note, resources: [], properties: { omitted: String(omitted), total: String(all.length) } });
    kept = [...all.slice(0, n), truncated];
  }
  return {
    apiVersion: 'wgpolicyk8s.io/v1alpha2',
    kind: 'PolicyReport',
    metadata: {
      name: REPORT_NAME,
      namespace,
      labels: { [LABEL_MANAGED_BY]: MANAGED_BY },
      annotations: { [ANNOTATION_OMITTED]: String(omitted) },
    },
    summary,
    results: kept,
  };
}
