// `apisec report`: every API of a cluster with the policy that governs it and what the operator reported
// in that policy's status, plus the APIs no policy covers. Pure: lists of objects in, rows out.
import { codeUnitOrder } from '../util/order.ts';
import type { ApiSecurityPolicyStatus } from '../api/v1alpha1.ts';
import { ClaimIndex, claimedTargets} from '../compliance/claims.ts';
import { protectedByMarker } from '../compliance/protect.ts';
import { MANAGED_BY } from '../render/labels.ts';
import type { IngressLike, ServiceLike } from '../render/types.ts';
import { uncoveredApis } from './coverage.ts';
import { columns, paint, plural, type Cell } from './text.ts';

export interface ClusterPolicy {
  metadata: { name: string; namespace?: string; generation?: number; creationTimestamp?: string; deletionTimestamp?: string };
  spec?: unknown;
  status?: ApiSecurityPolicyStatus;
}

export interface ReportRow {
  namespace: string;
  /** host + path of an Ingress rule ("*" for any host), or the Service type. */
  api: string;
  target: { kind: 'Ingress' | 'Service' | 'HTTPRoute'; name: string };
  /** null: no policy targets this API. */
  policy: string | null;
  mode: string | null;
  /** From status; null when the operator has not reported (yet). */
  score: number | null;
  /** The status is older than the policy's spec (observedGeneration behind generation). */
  stale: boolean;
  /** Controls that fail, from status; null when unknown. */
  failing: string[] | null;
  /** Why the policy does not protect this target as written: Conflicted, NotFound, Unsupported, not accepted. */
  problem?: string;
}

export interface Report {
  rows: ReportRow[];
  policies: number;
  uncovered: number;
}

const nsOf = (o: { metadata: { namespace?: string } }): string => o.metadata.namespace ?? '';

/** One entry per host and path of an Ingress. */
export function ingressApis(ing: IngressLike): string[] {
  const apis: string[] = [];
  for (const rule of ing.spec?.rules ?? []) {
    const paths = rule.http?.paths?.length ? rule.http.paths : [{ path: '/' }];
    for (const p of paths) apis.push(`${rule.host ?? '*'}${p.path ?? '/'}`);
  }
  return apis.length ? [...new Set(apis)] : ['*/'];
}

function statusFacts(p: ClusterPolicy, kind: string, name: string): Pick<ReportRow, 'score' | 'stale' | 'failing' | 'problem'> {
  const s = p.status;
  if (!s || s.observedGeneration === undefined) return { score: null, stale: false, failing: null };
  const accepted = s.conditions?.find((c) => c.type === 'Accepted');
  const target = s.targets?.find((t) => t.kind === kind && t.name === name);
  const problem =
    accepted?.status === 'False' ? `not accepted: ${accepted.reason}` : target && target.state !== 'Enforced' && target.state !== 'Audit' ? target.state : undefined;
  return {
    score: s.score ?? null,
    stale: p.metadata.generation !== undefined && s.observedGeneration < p.metadata.generation,
    failing: s.controls ? [...new Set(s.controls.filter((c) => c.result === 'Fail').map((c) => c.control))] : null,
    ...(problem ? { problem } : {}),
  };
}

export function buildReport(policies: ClusterPolicy[], ingresses: IngressLike[], services: ServiceLike[]): Report {
  const live = policies.filter((p) => !p.metadata.deletionTimestamp);
  const claims = new ClaimIndex(live);
  const ingressBy = new Map(ingresses.map((i) => [`${nsOf(i)}/${i.metadata.name}`, i]));
  const serviceBy = new Map(services.map((s) => [`${nsOf(s)}/${s.metadata.name}`, s]));
  const rows: ReportRow[] = [];
  for (const p of [...live].sort((a, b) => codeUnitOrder(nsOf(a), nsOf(b)) || codeUnitOrder(a.metadata.name, b.metadata.name))) {
    const ns = nsOf(p);
    const mode = String((p.spec as { mode?: unknown } | undefined)?.mode ?? 'Enforce');
    for (const { kind, name } of claimedTargets(p.spec)) {
      const base = { namespace: ns, target: { kind, name }, policy: p.metadata.name, mode, ...statusFacts(p, kind, name) };
      // The oldest valid policy governs a target (as the operator decides); another one is shown as Conflicted.
      const winner = claims.governor(ns, kind, name);
      const conflict = winner && winner.name !== p.metadata.name ? { problem: `Conflicted (governed by ${winner.name})` } : {};
      if (kind === 'Ingress') {
        const ing = ingressBy.get(`${ns}/${name}`);
        if (!ing) rows.push({ ...base, api: '-', problem: 'NotFound' });
        else for (const api of ingressApis(ing)) rows.push({ ...base, api, ...conflict });
      } else if (kind === 'HTTPRoute') {
        // Routes are not listed here: the policy's status says whether the route exists and is served.
        rows.push({ ...base, api: '(HTTPRoute)', ...conflict });
      } else {
        const svc = serviceBy.get(`${ns}/${name}`);
        rows.push(svc ? { ...base, api: `(${svc.spec?.type ?? 'ClusterIP'})`, ...conflict } : { ...base, api: '-', problem: 'NotFound' });
      }
    }
  }
  const uncovered = uncoveredApis({
    policies: live,
    ingresses: ingresses.map((object) => ({ object })),
    services: services.map((object) => ({ object })),
    // The operator's field manager is named like its managed-by label.
    protectedBy: (ing) => protectedByMarker(ing as Parameters<typeof protectedByMarker>[0], MANAGED_BY),
  });
  for (const u of uncovered) {
    const none = { namespace: u.namespace, target: { kind: u.kind, name: u.name }, policy: null, mode: null, score: null, stale: false, failing: null };
    const ing = u.kind === 'Ingress' ? ingressBy.get(`${u.namespace}/${u.name}`) : undefined;
    const apis = ing ? ingressApis(ing) : [`(${u.detail.replace(/^type /, '')})`];
    for (const api of apis) rows.push({ ...none, api });
  }
  rows.sort((a, b) => codeUnitOrder(a.namespace, b.namespace) || codeUnitOrder(a.api, b.api) || codeUnitOrder(`${a.target.kind}/${a.target.name}`, `${b.target.kind}/${b.target.name}`));
  return { rows, policies: live.length, uncovered: uncovered.length };
}

export type ReportFormat = 'table' | 'json';
export const REPORT_FORMATS: readonly ReportFormat[] = ['table', 'json'];

export function formatReport(r: Report, format: ReportFormat, color = false): string {
  if (format === 'json') return `${JSON.stringify({ apis: r.rows, summary: { apis: r.rows.length, policies: r.policies, uncovered: r.uncovered } }, null, 2)}\n`;
  const p = paint(color);
  if (!r.rows.length) return 'No APIs found: no ApiSecurityPolicy, Ingress, or LoadBalancer/NodePort Service.\n';
  const header: Cell[] = ['NAMESPACE', 'API', 'TARGET', 'POLICY', 'MODE', 'SCORE', 'FAILING'].map((h) => ({ text: h, style: p.bold }));
  const rows: Cell[][] = r.rows.map((row) => {
    const failing: Cell =
      row.policy === null
        ? { text: 'UNCOVERED', style: p.red }
        : row.problem
          ? { text: [row.problem, ...(row.failing ?? [])].join(', '), style: p.yellow }
          : row.failing === null
            ? '-'
            : row.failing.length
              ? { text: row.failing.join(', '), style: p.red }
              : { text: 'none', style: p.green };
    const score = row.score === null ? '-' : `${row.score}${row.stale ? ' (stale)' : ''}`;
    return [row.namespace, row.api, `${row.target.kind}/${row.target.name}`, row.policy ?? '<none>', row.mode ?? '-', score, failing];
  });
  const governed = new Set(r.rows.filter((x) => x.policy !== null).map((x) => `${x.namespace}/${x.target.kind}/${x.target.name}`)).size;
  return `${columns([header, ...rows])}\n\n${plural(governed, 'API')} under ${plural(r.policies, 'policy', 'policies')}, ${plural(r.uncovered, 'uncovered API')}.\n`;
}
