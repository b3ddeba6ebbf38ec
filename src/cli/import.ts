// apisec import: an ingress-nginx annotated Ingress → the ApiSecurityPolicy that says the same. The way off
// ingress-nginx (retired in March 2026) starts with one portable intent per API; ingress2gateway converts
// CORS, ranges, body size and redirects but not auth-*, limit-* or ModSecurity. Pure: Ingresses in, a
// policy per Ingress out, with every annotation of ingress-nginx it could not carry over and why. The
// result is validated by the policy schema, so what it writes is a policy the API server accepts.
import { ApiSecurityPolicySpec, API_VERSION, KIND, type ApiSecurityPolicySpecInput } from '../api/v1alpha1.ts';
import { stringify } from 'yaml';
import { inert } from '../render/text.ts';
import type { IngressLike } from '../render/types.ts';
import type { Located } from './inventory.ts';

export const NGINX_PREFIX = 'nginx.ingress.kubernetes.io/';

export interface Dropped {
  annotation: string;
  /** Why the policy does not say it (inert text is the caller's job when printing). */
  reason: string;
}

export interface Imported {
  ingress: { namespace: string; name: string; file: string; line: number };
  policy: { apiVersion: string; kind: string; metadata: { name: string; namespace: string }; spec: ApiSecurityPolicySpecInput };
  /** The ingress-nginx annotations the policy does not carry, with the reason. */
  dropped: Dropped[];
}

type Spec = Omit<ApiSecurityPolicySpecInput, 'targetRefs'>;
type Reader = { get(key: string): string | undefined; used(key: string): void; drop(key: string, reason: string): void };
type Mapper = (r: Reader, spec: Spec, ing: IngressLike) => void;

/** The schema's bound on rateLimit.burst. */
const MAX_BURST = 1000000;
const list = (v: string | undefined): string[] => (v ?? '').split(',').map((s) => s.trim()).filter(Boolean);
const bool = (v: string | undefined): boolean | undefined => (v === 'true' ? true : v === 'false' ? false : undefined);
const int = (v: string | undefined): number | undefined => (v !== undefined && /^\d{1,9}$/.test(v.trim()) ? Number(v.trim()) : undefined);

/** nginx sizes (k, m, g are binary; no unit is bytes) as policy sizes; 0 (no limit) is not a limit. */
export function policySize(nginx: string): string | undefined {
  const m = /^([1-9]\d{0,9})([kKmMgG]?)$/.exec(nginx.trim());
  if (!m) return undefined;
  const unit = { '': '', k: 'Ki', m: 'Mi', g: 'Gi' }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g'];
  return `${m[1]!}${unit}`;
}

const https: Mapper = (r, spec, ing) => {
  const force = bool(r.get('force-ssl-redirect'));
  const redirect = bool(r.get('ssl-redirect'));
  r.used('force-ssl-redirect');
  r.used('ssl-redirect');
  // ingress-nginx redirects to HTTPS by default on an Ingress with TLS (ssl-redirect defaults to true).
  if (force === true || (redirect !== false && (ing.spec?.tls?.length ?? 0) > 0)) spec.tls = { httpsOnly: true };
  else if (redirect === false) r.drop(`${NGINX_PREFIX}ssl-redirect`, 'plain HTTP stays served: the policy declares no HTTPS-only control');
};

const authentication: Mapper = (r, spec, ing) => {
  const url = r.get('auth-url');
  const tls = r.get('auth-tls-secret');
  if (url !== undefined) {
    r.used('auth-url');
    const headers = list(r.get('auth-response-headers'));
    r.used('auth-response-headers');
    spec.authentication = { external: { authURL: url, ...(headers.length ? { responseHeaders: headers } : {}) } };
    if (r.get('auth-signin') !== undefined) r.drop(`${NGINX_PREFIX}auth-signin`, 'a sign-in redirect belongs to authentication.oidc, which needs the issuer (issuerURL): write oidc { issuerURL, authURL, signinURL } by hand');
    if (tls !== undefined) r.drop(`${NGINX_PREFIX}auth-tls-secret`, 'a policy declares one authentication method: auth-url was carried over, client certificates were not');
    return;
  }
  if (tls === undefined) return;
  r.used('auth-tls-secret');
  const [ns, name] = tls.includes('/') ? tls.split('/', 2) : [ing.metadata.namespace, tls];
  if (ns !== ing.metadata.namespace || !name) return r.drop(`${NGINX_PREFIX}auth-tls-secret`, "the CA Secret is in another namespace; a policy names one in its own (copy it here, labelled apisec.dev/client-ca: \"true\")");
  const verify = r.get('auth-tls-verify-client');
  r.used('auth-tls-verify-client');
  if (verify !== undefined && verify !== 'on') r.drop(`${NGINX_PREFIX}auth-tls-verify-client`, `"${verify}" lets clients without a valid certificate in; the policy requires one (on)`);
  const depth = int(r.get('auth-tls-verify-depth'));
  r.used('auth-tls-verify-depth');
  const pass = bool(r.get('auth-tls-pass-certificate-to-upstream'));
  r.used('auth-tls-pass-certificate-to-upstream');
  spec.authentication = { mtls: { caSecretRef: name, ...(depth !== undefined ? { verifyDepth: depth } : {}), ...(pass !== undefined ? { passCertificateToUpstream: pass } : {}) } };
};

const rateLimit: Mapper = (r, spec) => {
  const rps = int(r.get('limit-rps'));
  const rpm = int(r.get('limit-rpm'));
  const conns = int(r.get('limit-connections'));
  for (const k of ['limit-rps', 'limit-rpm', 'limit-connections', 'limit-burst-multiplier']) r.used(k);
  if (rps === undefined && rpm === undefined) {
    if (conns !== undefined) r.drop(`${NGINX_PREFIX}limit-connections`, 'a policy limits connections only with a request rate (limit-rps or limit-rpm)');
    return;
  }
  if (rps !== undefined && rpm !== undefined) r.drop(`${NGINX_PREFIX}limit-rpm`, 'a policy has one rate: limit-rps was carried over');
  const rate = rps ?? rpm ?? 1;
  // ingress-nginx's burst is the rate times the multiplier (default 5), in requests.
  const multiplier = Math.max(1, int(r.get('limit-burst-multiplier')) ?? 5);
  const burst = Math.min(rate * multiplier, MAX_BURST);
  if (burst < rate * multiplier) r.drop(`${NGINX_PREFIX}limit-burst-multiplier`, `a burst of ${rate * multiplier} is above the policy's ${MAX_BURST}: ${MAX_BURST}`);
  spec.rateLimit = {
    ...(rps !== undefined ? { requestsPerSecond: rps } : { requestsPerMinute: rate }),
    burst,
    key: 'ClientIP',
    ...(conns !== undefined ? { maxConnections: conns } : {}),
  };
  if (r.get('limit-whitelist') !== undefined) r.drop(`${NGINX_PREFIX}limit-whitelist`, 'a policy has no ranges exempt from its rate limit');
};

const ipAccess: Mapper = (r, spec) => {
  const allow = list(r.get('allowlist-source-range') ?? r.get('whitelist-source-range'));
  const deny = list(r.get('denylist-source-range'));
  for (const k of ['allowlist-source-range', 'whitelist-source-range', 'denylist-source-range']) r.used(k);
  if (allow.length || deny.length) spec.ipAccess = { ...(allow.length ? { allow } : {}), ...(deny.length ? { deny } : {}) };
};

const cors: Mapper = (r, spec) => {
  const keys = ['enable-cors', 'cors-allow-origin', 'cors-allow-methods', 'cors-allow-headers', 'cors-expose-headers', 'cors-allow-credentials', 'cors-max-age'];
  const enabled = bool(r.get('enable-cors'));
  for (const k of keys) r.used(k);
  if (!enabled) return;
  // ingress-nginx's defaults: every origin, credentials allowed, max-age 1728000 s.
  const origins = list(r.get('cors-allow-origin') ?? '*');
  const credentials = bool(r.get('cors-allow-credentials')) ?? true;
  const maxAge = int(r.get('cors-max-age')) ?? 1728000;
  const methods = list(r.get('cors-allow-methods')).map((m) => m.toUpperCase());
  const allowHeaders = list(r.get('cors-allow-headers'));
  const exposeHeaders = list(r.get('cors-expose-headers'));
  const wildcard = origins.includes('*');
  // A default that ingress-nginx applies although the annotation is not set is named as such.
  const unset = (k: string): string => (r.get(k) === undefined ? "not set, so ingress-nginx's default: " : '');
  if (wildcard && credentials) r.drop(`${NGINX_PREFIX}cors-allow-credentials`, `${unset('cors-allow-credentials')}credentials with every origin (*) let any site act as the user: the policy allows no credentials`);
  if (maxAge > 86400) r.drop(`${NGINX_PREFIX}cors-max-age`, `${unset('cors-max-age')}${maxAge} s is above the policy's 86400 s (browsers cap it lower still): 86400`);
  spec.cors = {
    allowOrigins: origins,
    ...(methods.length ? { allowMethods: methods as never } : {}),
    ...(allowHeaders.length ? { allowHeaders } : {}),
    ...(exposeHeaders.length ? { exposeHeaders } : {}),
    allowCredentials: credentials && !wildcard,
    maxAgeSeconds: Math.min(maxAge, 86400),
  };
};

const requestLimits: Mapper = (r, spec) => {
  const size = r.get('proxy-body-size');
  r.used('proxy-body-size');
  if (size === undefined) return;
  const converted = policySize(size);
  if (converted) spec.requestLimits = { maxBodySize: converted };
  else r.drop(`${NGINX_PREFIX}proxy-body-size`, size.trim() === '0' ? '0 turns the limit off: the policy declares no body limit' : 'not a size the policy can state');
};

const waf: Mapper = (r, spec) => {
  const modsecurity = bool(r.get('enable-modsecurity'));
  const owasp = bool(r.get('enable-owasp-core-rules'));
  r.used('enable-modsecurity');
  r.used('enable-owasp-core-rules');
  if (!modsecurity) return;
  if (!owasp) r.drop(`${NGINX_PREFIX}enable-modsecurity`, 'ModSecurity without the OWASP core rules: the policy\'s WAF is the core rule set (enabled here)');
  // ingress-nginx's ModSecurity detects only (SecRuleEngine DetectionOnly) unless its ConfigMap says On.
  spec.waf = { enabled: true, mode: 'Detect' };
};

const logging: Mapper = (r, spec) => {
  const log = bool(r.get('enable-access-log'));
  r.used('enable-access-log');
  if (log !== undefined) spec.logging = { accessLog: log };
};

const MAPPERS: Mapper[] = [https, authentication, rateLimit, ipAccess, cors, requestLimits, waf, logging];

/** Why an ingress-nginx annotation no mapper reads is not carried over. */
function unmapped(key: string): string {
  if (key.endsWith('-snippet')) return 'a snippet is raw nginx configuration: the operator never writes one (review what it does by hand)';
  if (key.startsWith('auth-')) return 'not part of a policy\'s authentication';
  return 'not a security control of the policy';
}

/** The ApiSecurityPolicy for one Ingress, and what of its ingress-nginx annotations it does not say. */
export function importIngress(located: Located<IngressLike>): Imported {
  const ing = located.object;
  const annotations = ing.metadata.annotations ?? {};
  const used = new Set<string>();
  const dropped: Dropped[] = [];
  const reader: Reader = {
    get: (k) => annotations[NGINX_PREFIX + k],
    used: (k) => used.add(NGINX_PREFIX + k),
    drop: (annotation, reason) => {
      used.add(annotation);
      dropped.push({ annotation, reason });
    },
  };
  const spec: Spec = {};
  for (const map of MAPPERS) map(reader, spec, ing);
  for (const key of Object.keys(annotations).sort()) {
    if (key.startsWith(NGINX_PREFIX) && !used.has(key)) dropped.push({ annotation: key, reason: unmapped(key.slice(NGINX_PREFIX.length)) });
  }
  const namespace = ing.metadata.namespace ?? 'default';
  const full = keepValid({ targetRefs: [{ group: 'networking.k8s.io', kind: 'Ingress', name: ing.metadata.name }], provider: 'ingress-nginx', ...spec }, dropped);
  return {
    ingress: { namespace, name: ing.metadata.name, file: located.at.file, line: located.at.line },
    policy: { apiVersion: API_VERSION, kind: KIND, metadata: { name: ing.metadata.name, namespace }, spec: full },
    dropped: dropped.sort((a, b) => (a.annotation < b.annotation ? -1 : a.annotation > b.annotation ? 1 : 0)),
  };
}

/** Drops each control the schema refuses (a value the annotation allowed and a policy does not), naming why. */
function keepValid(spec: ApiSecurityPolicySpecInput, dropped: Dropped[]): ApiSecurityPolicySpecInput {
  const out: Record<string, unknown> = { ...spec };
  for (const key of Object.keys(spec) as (keyof ApiSecurityPolicySpecInput)[]) {
    if (key === 'targetRefs' || key === 'provider') continue;
    const parsed = ApiSecurityPolicySpec.safeParse({ targetRefs: spec.targetRefs, [key]: spec[key] });
    if (parsed.success) continue;
    delete out[key];
    const issue = parsed.error.issues[0];
    dropped.push({ annotation: `spec.${key}`, reason: `refused by the policy schema: ${[key, ...(issue?.path.slice(1) ?? [])].join('.')}: ${issue?.message ?? 'invalid'}` });
  }
  return out as ApiSecurityPolicySpecInput;
}

/**
 * The imported policies as YAML, each after a comment naming its Ingress and every annotation not
 * carried over. Annotation keys and values are anyone's text: made inert (one line, clipped) in comments.
 */
export function formatImported(imported: readonly Imported[]): string {
  return imported
    .map(({ ingress, policy, dropped }) => {
      const head = [`# Imported by apisec import from Ingress ${inert(`${ingress.namespace}/${ingress.name}`, 320, true)} (${inert(`${ingress.file}:${ingress.line}`, 512, true)}).`];
      if (dropped.length) {
        head.push(`# Not carried over (${dropped.length}):`);
        for (const d of dropped) head.push(`#   ${inert(d.annotation, 320, true)}: ${inert(d.reason, 512, true)}`);
      } else head.push('# Every ingress-nginx annotation was carried over.');
      return `${head.join('\n')}\n${stringify(policy, { version: '1.1', lineWidth: 0, aliasDuplicateObjects: false })}`;
    })
    .join('---\n');
}
