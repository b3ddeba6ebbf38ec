// compliance: (policy spec, observed targets, render output, mode) → one result per control and a score.
// Pure. The rule (docs/compliance.md): a control is Pass/Enforced only when every part the policy
// declares is enforced by a component in the request path that the operator configured. A declared part
// that nothing enforces makes it Fail; a decision left to a component the operator does not configure
// (a user's auth endpoint, a controller-wide ConfigMap) makes it Warn, fidelity Delegated.
import type { ApiSecurityPolicySpec, ControlName, ControlResult } from '../api/v1alpha1.ts';
import { declares } from '../render/index.ts';
import { admitsEveryNamespace, prefixLength } from './peers.ts';
import { inert } from '../render/text.ts';
import type { FidelityNote, FidelityReport, IngressLike } from '../render/types.ts';

/** Weights of the score (sum 100). Documented in docs/compliance.md. */
export const WEIGHTS: Record<ControlName, number> = {
  Authentication: 20,
  HTTPSOnly: 15,
  RateLimit: 15,
  Authorization: 10,
  NetworkIsolation: 10,
  RequestLimits: 10,
  WAF: 8,
  IPAccess: 4,
  CORS: 4,
  Logging: 4,
};

export interface ComplianceInput {
  spec: ApiSecurityPolicySpec;
  mode: 'Enforce' | 'Audit';
  /** Ingress targets that exist (and were not lost to a conflicting policy). */
  ingresses: IngressLike[];
  /** Whether any target (Ingress or Service) exists. */
  anyTarget: boolean;
  fidelity: FidelityReport;
  /** Services behind the targets that the NetworkPolicy could not select. */
  networkSkipped: { service: string; reason: string }[];
}

export interface ComplianceOutput {
  controls: ControlResult[];
  /** What is protected now: 0 when nothing is enforced (Audit mode, no target). */
  score: number;
  /** Audit mode: what the policy would score if it were enforced. */
  auditScore?: number;
  violations: number;
}

/** `explained`: the message already says what the fidelity note says. */
type Verdict = Pick<ControlResult, 'result' | 'message'> & { remediation?: string; explained?: boolean };

const pass = (message: string): Verdict => ({ result: 'Pass', message });
const warn = (message: string, remediation: string): Verdict => ({ result: 'Warn', message, remediation });
const fail = (message: string, remediation: string): Verdict => ({ result: 'Fail', message, remediation });
const na = (message: string): Verdict => ({ result: 'NotApplicable', message });

function checkHttps(i: ComplianceInput): Verdict {
  if (!i.spec.tls?.httpsOnly) return fail('plain HTTP is accepted', 'set spec.tls.httpsOnly: true');
  const noTls = i.ingresses.filter((g) => !g.spec?.tls?.length).map((g) => g.metadata.name);
  if (noTls.length) return warn(`HTTPS redirect set, but Ingress ${noTls.join(', ')} has no tls section`, 'add spec.tls with a certificate to the Ingress');
  if (!i.spec.tls.hsts) return warn('HTTPS only, without HSTS', 'set spec.tls.hsts');
  return pass('HTTPS only with HSTS');
}

function checkAuthentication(i: ComplianceInput): Verdict {
  const a = i.spec.authentication;
  if (!a) return fail('no authentication: anyone can call the API', 'set spec.authentication (oidc, jwt, apiKey, mtls or external)');
  const method = Object.keys(a).find((k) => a[k as keyof typeof a] !== undefined) ?? 'unknown';
  return pass(`authentication by ${method}`);
}

function checkAuthorization(i: ComplianceInput): Verdict {
  const z = i.spec.authorization;
  if (!i.spec.authentication) return fail('no authentication, so no authorization', 'set spec.authentication and spec.authorization');
  if (!z) return warn('every authenticated caller may do everything', 'set spec.authorization with defaultAction: Deny and allow rules');
  if (z.defaultAction === 'Allow') return warn('requests no rule matches are allowed', 'set spec.authorization.defaultAction: Deny');
  if (z.rules.length === 0) return warn('default Deny without rules denies every request', 'add allow rules');
  return pass(`least privilege: default Deny with ${z.rules.length} allow rule(s)`);
}

function checkRateLimit(i: ComplianceInput): Verdict {
  const r = i.spec.rateLimit;
  if (!r) return fail('no rate limit: open to brute force and floods', 'set spec.rateLimit');
  const rate = r.requestsPerSecond !== undefined ? `${r.requestsPerSecond}/s` : `${r.requestsPerMinute}/min`;
  const per = r.key === 'Header' ? `header ${r.header}` : r.key === 'Subject' ? 'authenticated identity' : 'client';
  return pass(`limited to ${rate} per ${per}${r.scope === 'Global' ? ', across every replica' : ''}`);
}

function checkIpAccess(i: ComplianceInput): Verdict {
  const ip = i.spec.ipAccess;
  if (!ip || (!ip.allow?.length && !ip.deny?.length)) return na('no source ranges declared (public API)');
  const open = ip.allow?.some((c) => c === '0.0.0.0/0' || c === '::/0');
  if (open) return warn('the allow-list admits every address', 'narrow spec.ipAccess.allow');
  return pass(`${ip.allow?.length ?? 0} allowed and ${ip.deny?.length ?? 0} denied range(s)`);
}

function checkCors(i: ComplianceInput): Verdict {
  const c = i.spec.cors;
  if (!c) return na('no cross-origin access declared');
  if (c.allowOrigins.includes('*')) return warn('any origin may call the API from a browser', 'list the allowed origins in spec.cors.allowOrigins');
  return pass(`${c.allowOrigins.length} allowed origin(s)`);
}

function checkRequestLimits(i: ComplianceInput): Verdict {
  const l = i.spec.requestLimits;
  if (!l?.maxBodySize) return fail('no request body size limit', 'set spec.requestLimits.maxBodySize');
  if (!l.allowedMethods) return warn(`body limited to ${l.maxBodySize}; every method accepted`, 'set spec.requestLimits.allowedMethods');
  return pass(`body ≤ ${l.maxBodySize}, methods ${l.allowedMethods.join(', ')}`);
}

function checkWaf(i: ComplianceInput): Verdict {
  const w = i.spec.waf;
  if (!w?.enabled) return warn('no web application firewall', 'set spec.waf.enabled: true');
  if (w.mode === 'Detect') return warn('WAF only detects attacks', 'set spec.waf.mode: Block');
  return pass('WAF blocks with the OWASP core rule set');
}

/** Peers that admit the world: an ipBlock of prefix length 0, or every namespace. */
export function worldOpenPeers(n: NonNullable<ApiSecurityPolicySpec['network']>): string[] {
  const out: string[] = [];
  n.allowFrom.forEach((p, idx) => {
    if (p.ipBlock && prefixLength(p.ipBlock.cidr) === 0) out.push(`allowFrom[${idx}] ipBlock ${p.ipBlock.cidr} admits every address`);
    if (admitsEveryNamespace(p)) out.push(`allowFrom[${idx}] admits every pod of every namespace`);
  });
  return out;
}

function checkNetwork(i: ComplianceInput): Verdict {
  const n = i.spec.network;
  if (!n?.defaultDeny) return fail('API pods accept traffic from anywhere in the cluster', 'set spec.network.defaultDeny: true');
  if (i.networkSkipped.length) {
    return warn(`not isolated: ${i.networkSkipped.map((s) => `${s.service} (${s.reason})`).join('; ')}`, 'give the Service a pod selector');
  }
  const open = worldOpenPeers(n);
  if (open.length) return warn(`default deny, but ${open.join('; ')}`, 'narrow spec.network.allowFrom to the callers that need the API');
  return pass(`default deny, ${n.allowFrom.length} allowed caller group(s)`);
}

function checkLogging(i: ComplianceInput): Verdict {
  const l = i.spec.logging;
  if (!l) return warn('access logging not declared', 'set spec.logging.accessLog: true');
  if (!l.accessLog) return fail('access logging is off', 'set spec.logging.accessLog: true');
  return pass('access logs in JSON');
}

const CHECKS: [ControlName, (i: ComplianceInput) => Verdict][] = [
  ['HTTPSOnly', checkHttps],
  ['Authentication', checkAuthentication],
  ['Authorization', checkAuthorization],
  ['RateLimit', checkRateLimit],
  ['IPAccess', checkIpAccess],
  ['CORS', checkCors],
  ['RequestLimits', checkRequestLimits],
  ['WAF', checkWaf],
  ['NetworkIsolation', checkNetwork],
  ['Logging', checkLogging],
];

const REMEDIATION_DELEGATED: Partial<Record<ControlName, string>> = {
  Authentication: 'make sure the endpoint checks what the policy declares; the operator cannot verify it',
  HTTPSOnly: "set HSTS in the ingress controller's ConfigMap as the policy declares",
  WAF: "set SecRuleEngine On in the ingress controller's ModSecurity configuration",
  Logging: "configure the ingress controller's access log",
};

/** Holds a Pass or Warn to what the data plane really enforces (see the rule at the top). */
function applyFidelity(v: Verdict, note: FidelityNote | undefined, control: ControlName, spec: ApiSecurityPolicySpec): Verdict {
  if (v.result !== 'Pass' && v.result !== 'Warn') return v;
  // NetworkIsolation is the NetworkPolicy's, judged by checkNetwork; a note only ever weakens it.
  if (control === 'NetworkIsolation' && !note) return v;
  if (!note) return declares(spec, control) ? fail('declared, but no component in the request path enforces it', 'use a data plane that supports it, or the sidecar') : v;
  if (note.fidelity === 'Unsupported' && !note.unenforced?.length) {
    return { ...fail(`declared, but nothing in the request path enforces it: ${note.reason ?? ''}`.trim(), 'use a data plane that supports it, or the sidecar'), explained: true };
  }
  if (note.unenforced?.length) {
    return fail(`declared but not enforced: ${note.unenforced.join('; ')}`, 'remove what cannot be enforced, or use a data plane (or the sidecar) that enforces it');
  }
  // A Warn of the spec's own keeps its remediation; a Pass that a foreign component decides becomes a Warn.
  if (note.fidelity === 'Delegated' && v.result === 'Pass') return warn(v.message, REMEDIATION_DELEGATED[control] ?? 'check the component that decides; the operator cannot verify it');
  return v;
}

function score(controls: readonly ControlResult[]): number {
  let earned = 0;
  let possible = 0;
  for (const c of controls) {
    if (c.result === 'NotApplicable') continue;
    possible += WEIGHTS[c.control];
    earned += WEIGHTS[c.control] * (c.result === 'Pass' ? 1 : c.result === 'Warn' ? 0.5 : 0);
  }
  return possible === 0 ? 0 : Math.round((earned / possible) * 100);
}

export function evaluate(i: ComplianceInput): ComplianceOutput {
  const controls: ControlResult[] = [];
  for (const [control, check] of CHECKS) {
    const note = i.fidelity[control];
    // Without a live target there is no request path to judge; the spec alone is judged, not enforced.
    const v = i.anyTarget ? applyFidelity(check(i), note, control, i.spec) : check(i);
    const enforcement: ControlResult['enforcement'] =
      i.mode === 'Audit' ? 'Audit' : !i.anyTarget || v.result === 'Fail' || v.result === 'NotApplicable' || note?.fidelity === 'Unsupported' ? 'NotEnforced' : 'Enforced';
    const result: ControlResult = { control, result: v.result, enforcement, message: v.message };
    if (note) result.fidelity = note.fidelity;
    if (note?.reason && note.fidelity !== 'Exact' && !v.explained) result.message = `${v.message} (${note.fidelity}: ${note.reason})`;
    result.message = inert(result.message, 1024);
    if (v.remediation) result.remediation = v.remediation;
    controls.push(result);
  }
  const wouldScore = score(controls);
  const violations = controls.filter((c) => c.result === 'Fail').length;
  // The score says what is protected now: nothing is, in Audit mode or without a target.
  if (i.mode === 'Audit') return { controls, score: 0, auditScore: wouldScore, violations };
  return { controls, score: i.anyTarget ? wouldScore : 0, violations };
}
