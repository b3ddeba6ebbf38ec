// A complete nginx configuration for a reverse-proxy sidecar in the API's pod: it listens on the
// policy's sidecar port and proxies to the application on 127.0.0.1. It enforces in the pod what an
// ingress controller cannot (or enforces only per replica): rate limit → 429, connection limit → 429,
// body size → 413, method allow-list → 405, content types → 415, source ranges → 403, JSON access log.
//
// Every value below comes from a schema-validated field (src/api/patterns.ts allows no whitespace,
// quotes, braces, `;`, `$` or `#`), and each is still passed through an allow-list check here, so no
// input can end a directive or open a block. Paths are relative to nginx's prefix (-p), so one config
// works in a read-only container (prefix on an emptyDir) and in tests (prefix in a temp dir). nginx
// creates only the last component of a temp path, so each is a direct child of the (empty) prefix.
// Without spec.sidecar.appPort the upstream's port is APP_PORT_PLACEHOLDER, which the sidecar's start
// script replaces with the port the webhook resolved for the pod (the one its Service targeted).
// How nginx is started is defined once, in sidecar-container.ts.
import type { ApiSecurityPolicySpec } from '../api/v1alpha1.ts';
import { sizeToBytes } from '../api/patterns.ts';
import { credentialHeaders, guardDecides, guardFidelity, guardResponseHeaders } from './delegation.ts';
import { ownedLabels, ownerReference } from './labels.ts';
import { APP_PORT_PLACEHOLDER, SIDECAR_CONFIG_KEY, sidecarConfigMapName } from './sidecar-container.ts';
import { globalCountGap, guardGlobalNote, subjectNote, withWindows } from './rate-limit-scope.ts';
import { NO_DATA_PATH, type DataPath, type FidelityReport, type PolicyRef } from './types.ts';

export { SIDECAR_CONFIG_KEY };

export interface SidecarConfigMap {
  apiVersion: 'v1';
  kind: 'ConfigMap';
  metadata: { name: string; namespace: string; labels: Record<string, string>; ownerReferences: ReturnType<typeof ownerReference>[] };
  data: Record<string, string>;
}

export class UnsafeValueError extends Error {
  /** The condition reason a refused policy gets. */
  readonly reason: string = 'UnsafeValue';
}

/** Refuses anything that is not a plain token, whatever the schema let through. */
function token(value: string, allowed: RegExp): string {
  if (!allowed.test(value)) throw new UnsafeValueError(`refusing to render unsafe value ${JSON.stringify(value.slice(0, 40))}`);
  return value;
}

const CIDR_TOKEN = /^[0-9a-fA-F.:]+\/[0-9]{1,3}$/;
const HEADER_TOKEN = /^[A-Za-z0-9][A-Za-z0-9-]{0,63}$/;
const MEDIA_TOKEN = /^[a-z0-9][a-z0-9.+-]*\/([a-z0-9*][a-z0-9.+*-]*)$/;
/** The guard's check URL: scheme, DNS host (or IPv4), port, and /check/<namespace>/<policy> of DNS names. */
const GUARD_TOKEN = /^(https?):\/\/([a-z0-9]([-a-z0-9.]*[a-z0-9])?(:[0-9]{1,5})?)(\/check\/[a-z0-9][-a-z0-9.]*\/[a-z0-9][-a-z0-9.]*)$/;

/** nginx variable of a request header: $http_ + lower case, dashes as underscores. */
export function headerVariable(header: string): string {
  return `$http_${token(header, HEADER_TOKEN).toLowerCase().replace(/-/g, '_')}`;
}

/** A regex for one media type: dots and pluses literal, `*` any subtype characters. */
function mediaRegex(type: string): string {
  return token(type, MEDIA_TOKEN)
    .replace(/[.+]/g, (c) => `\\${c}`)
    .replace(/\*/g, '[^;]*');
}

function rateDirectives(spec: ApiSecurityPolicySpec): { http: string[]; location: string[] } {
  const http: string[] = [];
  const location: string[] = [];
  const rl = spec.rateLimit;
  // key Subject: the guard counts per identity (auth_request); nginx has no identity to key on.
  if (!rl || rl.key === 'Subject') return { http, location };
  let key = '$binary_remote_addr';
  if (rl.key === 'Header' && rl.header) {
    // Requests without the header are limited by address instead of escaping the limit.
    http.push(`map ${headerVariable(rl.header)} $apisec_limit_key {`, `    ""      $binary_remote_addr;`, `    default ${headerVariable(rl.header)};`, '}');
    key = '$apisec_limit_key';
  }
  const perSecond = rl.requestsPerSecond !== undefined;
  const rate = perSecond ? `${rl.requestsPerSecond}r/s` : `${rl.requestsPerMinute}r/m`;
  const burst = rl.burst ?? (perSecond ? (rl.requestsPerSecond ?? 1) : Math.max(1, Math.ceil((rl.requestsPerMinute ?? 60) / 60)));
  http.push(`limit_req_zone ${key} zone=apisec_rate:10m rate=${rate};`, 'limit_req_status 429;', 'limit_req_log_level warn;');
  location.push(`limit_req zone=apisec_rate burst=${burst} nodelay;`);
  if (rl.maxConnections !== undefined) {
    http.push(`limit_conn_zone ${key} zone=apisec_conn:10m;`, 'limit_conn_status 429;');
    location.push(`limit_conn apisec_conn ${rl.maxConnections};`);
  }
  return { http, location };
}

/**
 * nginx's auth_request: every request is first asked of the guard (a subrequest without the body and
 * with only the credential header, the method and the URI, so a client cannot forge the request the
 * guard judges). 2xx proceeds with the guard's identity headers (a client's own are replaced, or
 * dropped when empty); 401 and 403 are answered with the guard's WWW-Authenticate; a guard that does
 * not answer is a 500: refused, never let through. auth_request turns every other status into a 500,
 * so the guard's own status is kept and a named location answers its 429 (a global rate limit, with
 * Retry-After and RateLimit-*) and 503 (the store down, onStoreUnavailable Deny) as the guard did.
 */
/** The guard's rate-limit answer headers (draft-ietf-httpapi-ratelimit-headers), passed to the client. */
const LIMIT_HEADERS = ['Retry-After', 'RateLimit-Limit', 'RateLimit-Remaining', 'RateLimit-Reset'] as const;

function guardDirectives(spec: ApiSecurityPolicySpec, guard: string | undefined): { http: string[]; server: string[]; location: string[] } {
  const auth = spec.authentication;
  if (!auth || guard === undefined || !guardDecides(auth)) return { http: [], server: [], location: [] };
  const m = GUARD_TOKEN.exec(token(guard, GUARD_TOKEN));
  const [, scheme, hostPort, , , path] = m ?? [];
  const v = (h: string): string => `$apisec_${h.toLowerCase().replace(/-/g, '_')}`;
  const identity = guardResponseHeaders(auth).map((h) => token(h, HEADER_TOKEN));
  return {
    http: ['upstream apisec_guard {', `    server ${hostPort ?? ''};`, '    keepalive 16;', '}'],
    server: [
      'location = /.apisec/auth {',
      '    internal;',
      `    proxy_pass ${scheme ?? 'http'}://apisec_guard${path ?? ''};`,
      '    proxy_http_version 1.1;',
      '    proxy_set_header Connection "";',
      '    proxy_pass_request_body off;',
      '    proxy_pass_request_headers off;',
      '    proxy_set_header Content-Length "";',
      ...credentialHeaders(auth).map((h) => `    proxy_set_header ${token(h, HEADER_TOKEN)} ${headerVariable(h)};`),
      '    proxy_set_header X-Original-Method $request_method;',
      '    proxy_set_header X-Original-URL $scheme://$host$request_uri;',
      '    proxy_set_header X-Forwarded-For $remote_addr;',
      '    proxy_connect_timeout 2s;',
      '    proxy_read_timeout 5s;',
      '}',
      'location @apisec_guard_answer {',
      ...LIMIT_HEADERS.map((h) => `    add_header ${h} ${v(h)} always;`),
      '    if ($apisec_guard_status = 429) {',
      '        return 429;',
      '    }',
      '    if ($apisec_guard_status = 503) {',
      '        return 503;',
      '    }',
      '    return 500;',
      '}',
    ],
    location: [
      'auth_request /.apisec/auth;',
      'auth_request_set $apisec_guard_status $upstream_status;',
      ...[...identity, 'WWW-Authenticate', ...LIMIT_HEADERS].map((h) => `auth_request_set ${v(h)} $upstream_http_${h.toLowerCase().replace(/-/g, '_')};`),
      'error_page 500 = @apisec_guard_answer;',
      `add_header WWW-Authenticate ${v('WWW-Authenticate')} always;`,
      ...LIMIT_HEADERS.filter((h) => h !== 'Retry-After').map((h) => `add_header ${h} ${v(h)} always;`),
      ...identity.map((h) => `proxy_set_header ${h} ${v(h)};`),
    ],
  };
}

function accessDirectives(spec: ApiSecurityPolicySpec): string[] {
  const out: string[] = [];
  // First match wins: explicit denies, then allows, then deny the rest if an allow-list exists.
  for (const c of spec.ipAccess?.deny ?? []) out.push(`deny ${token(c, CIDR_TOKEN)};`);
  for (const c of spec.ipAccess?.allow ?? []) out.push(`allow ${token(c, CIDR_TOKEN)};`);
  if (spec.ipAccess?.allow?.length) out.push('deny all;');
  return out;
}

/**
 * The client address behind trusted proxies: from X-Forwarded-For, skipping (right to left) every address
 * inside a trusted CIDR (ngx_http_realip_module), so allow/deny lists and the rate-limit key see the client.
 */
function realIpDirectives(trusted: readonly string[]): string[] {
  if (trusted.length === 0) return [];
  return ['real_ip_header X-Forwarded-For;', 'real_ip_recursive on;', ...trusted.map((c) => `set_real_ip_from ${token(c, CIDR_TOKEN)};`)];
}

/**
 * The whole nginx.conf for one policy's sidecar. Throws UnsafeValueError on any unexpected value.
 * `path`: the guard that decides the policy's identity controls, and the trusted proxies (CIDRs) whose
 * X-Forwarded-For names the client.
 */
export function renderSidecarNginxConf(policy: PolicyRef, spec: ApiSecurityPolicySpec, path: DataPath = NO_DATA_PATH): string {
  const { guard, trusted } = path;
  const sidecar = spec.sidecar;
  if (!sidecar) throw new Error('spec.sidecar is not set');
  const limits = spec.requestLimits;
  const rate = rateDirectives(spec);
  const auth = guardDirectives(spec, guard);
  const http: string[] = [...realIpDirectives(trusted), ...rate.http, ...auth.http];
  const location: string[] = [];

  const methods = limits?.allowedMethods;
  if (methods?.length) {
    location.push(`if ($request_method !~ ^(${methods.join('|')})$) {`, '    return 405;', '}');
  }
  const types = limits?.allowedContentTypes;
  if (types?.length) {
    http.push('map $content_type $apisec_content_type_ok {', '    default 0;', '    ""      1;');
    for (const t of types) http.push(`    "~*^${mediaRegex(t)}\\s*(;|$)" 1;`);
    http.push('}');
    location.push('if ($apisec_content_type_ok = 0) {', '    return 415;', '}');
  }
  location.push(...accessDirectives(spec), ...rate.location, ...auth.location);
  const maxBody = limits?.maxBodySize ? sizeToBytes(limits.maxBodySize) : undefined;
  const accessLog = spec.logging?.accessLog === false ? 'access_log off;' : 'access_log /dev/stdout apisec_json;';

  const indent = (lines: string[], n: number): string => lines.map((l) => `${' '.repeat(n)}${l}`).join('\n');
  // Nothing is written outside the prefix but the logs (stderr, stdout); no `user` directive, which
  // only matters (and only warns) when the master runs as root.
  return `# Generated by api-security-operator for ApiSecurityPolicy ${policy.namespace}/${policy.name}. Do not edit:
# the operator rewrites this ConfigMap, and the sidecar reloads it (docs/sidecar.md: how it starts).
worker_processes 1;
pid nginx.pid;
error_log stderr warn;

events {
    worker_connections 1024;
}

http {
    client_body_temp_path client_body_temp;
    proxy_temp_path proxy_temp;
    fastcgi_temp_path fastcgi_temp;
    uwsgi_temp_path uwsgi_temp;
    scgi_temp_path scgi_temp;
    server_tokens off;
    log_format apisec_json escape=json '{"time":"$time_iso8601","remote_addr":"$remote_addr","method":"$request_method","uri":"$request_uri","status":$status,"bytes_sent":$body_bytes_sent,"request_length":$request_length,"request_time":$request_time,"upstream_response_time":"$upstream_response_time","user_agent":"$http_user_agent"}';
    ${accessLog}
${indent(http, 4)}

    server {
        listen ${sidecar.port};
        client_max_body_size ${maxBody ?? '1m'};

        location = /.apisec/healthz {
            access_log off;
            return 200 "ok\\n";
        }
${auth.server.length ? `${indent(auth.server, 8)}\n` : ''}
        location / {
${indent(location, 12)}
            proxy_pass http://127.0.0.1:${sidecar.appPort ?? APP_PORT_PLACEHOLDER};
            proxy_http_version 1.1;
            proxy_set_header Host $host;
            proxy_set_header X-Real-IP $remote_addr;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
        }
    }
}
`;
}

export function renderSidecarConfigMap(policy: PolicyRef, spec: ApiSecurityPolicySpec, path: DataPath = NO_DATA_PATH): SidecarConfigMap | undefined {
  if (!spec.sidecar?.enabled) return undefined;
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name: sidecarConfigMapName(policy),
      namespace: policy.namespace,
      labels: ownedLabels(policy),
      ownerReferences: [ownerReference(policy)],
    },
    data: { [SIDECAR_CONFIG_KEY]: renderSidecarNginxConf(policy, spec, path) },
  };
}

/** What the sidecar adds to each control it can enforce (in the pod, behind the Service). */
export function sidecarFidelity(spec: ApiSecurityPolicySpec, path: DataPath = NO_DATA_PATH): FidelityReport {
  const { guard, trusted } = path;
  if (!spec.sidecar?.enabled) return {};
  const f: FidelityReport = guard !== undefined && guardDecides(spec.authentication) ? guardFidelity(spec, guard, 'auth_request in the sidecar') : {};
  const gap = globalCountGap(spec, 'the sidecar');
  const viaGuard = { guard, store: path.store, how: 'auth_request in the sidecar', passes429: true };
  const bySubject = subjectNote(spec, viaGuard);
  const local = { fidelity: 'Approximated' as const, reason: 'by the sidecar: per pod, each replica counts separately (429)', ...(gap.length ? { unenforced: gap } : {}) };
  if (spec.rateLimit) f.RateLimit = withWindows(bySubject ?? guardGlobalNote(spec, viaGuard) ?? local, spec, viaGuard);
  if (spec.requestLimits) f.RequestLimits = { fidelity: 'Exact', reason: 'by the sidecar (413, 405, 415)' };
  if (spec.ipAccess) {
    f.IPAccess = trusted.length
      ? { fidelity: 'Exact', reason: `by the sidecar, on the client address that the trusted proxies (${trusted.join(', ')}) forward in X-Forwarded-For` }
      : { fidelity: 'Approximated', reason: 'by the sidecar, which sees the previous hop (e.g. the ingress controller), not always the client (set the operator\'s --trusted-proxy)' };
  }
  if (spec.logging) f.Logging = { fidelity: 'Exact', reason: 'by the sidecar: JSON access log on stdout' };
  return f;
}
