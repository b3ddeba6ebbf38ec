// Command-line flags and environment of the operator process, parsed and validated up front so a
// wrong setting fails at start with one clear line instead of during a reconcile. The flags follow the
// Kubernetes operator conventions (kubebuilder's cmd/main.go): --metrics-bind-address=:8080,
// --health-probe-bind-address=:8081, boolean --leader-elect. FLAGS is the one list: the parser, the
// environment fallbacks, the defaults and --help all come from it.
import { parseArgs } from 'node:util';
import { isCidr } from './api/patterns.ts';
import { isAllowedHostEntry } from './compliance/outbound.ts';
import { SIDECAR_IMAGE } from './render/sidecar-container.ts';
import { defaultSettings, type ControllerPeer, type IngressProvider, type OperatorSettings, type Provider, type RouteProvider, ROUTE_PROVIDERS } from './render/types.ts';

/** Where a server listens; no host means every interface (Go's ":8080"). */
export interface ListenAddress {
  host?: string;
  /** 0 picks a free port. */
  port: number;
}

export interface OperatorConfig {
  kubeconfig?: string;
  context?: string;
  namespace?: string;
  workers: number;
  /** Client-side limit on API requests (watches aside): per second after a burst; 0: none. */
  kubeApiQps: number;
  kubeApiBurst: number;
  /** /metrics. */
  metricsAddress: ListenAddress;
  /** /healthz and /readyz; equal to metricsAddress, one server serves all. */
  healthProbeAddress: ListenAddress;
  /** Who may read /metrics: anyone who reaches it, or a bearer token with RBAC get on /metrics (then HTTPS). */
  metricsAuth: MetricsAuthMode;
  /** tls.crt and tls.key of the HTTPS metrics server; without it a self-signed certificate. */
  metricsCertDir?: string;
  /** The sidecar injection webhook (docs/sidecar.md), when --webhook-bind-address is set. */
  webhook?: WebhookConfig;
  leaderElect: boolean;
  leaderElectionNamespace: string;
  leaderElectionId: string;
  identity: string;
  resyncMs: number;
  /** Caches not synced by then end the process (0: wait forever), like controller-runtime's CacheSyncTimeout. */
  cacheSyncTimeoutMs: number;
  /** Seconds one watch request lasts; a stream silent longer (plus up to 30 s) is restarted. */
  watchTimeoutSeconds: number;
  /** Bound on every other API request, answer included. */
  requestTimeoutMs: number;
  /** How often the optional APIs (Traefik, Gateway API, Envoy Gateway, PolicyReport CRDs) are looked for again. */
  discoveryIntervalMs: number;
  logLevel: string;
  settings: OperatorSettings;
  /** One line per deprecated flag used, for the log at start. */
  warnings: string[];
}

export interface WebhookConfig {
  address: ListenAddress;
  /** tls.crt and tls.key, the certificate the webhook configuration's caBundle trusts. */
  certDir: string;
  /** The sidecar's image. */
  image: string;
  /** The operator's own namespace: never injected. */
  operatorNamespace: string;
}

export const METRICS_AUTH_MODES = ['none', 'kubernetes'] as const;
export type MetricsAuthMode = (typeof METRICS_AUTH_MODES)[number];

export interface Flag {
  name: string;
  /** string: one value (last wins); list: repeatable; boolean: --name, --name=true or --name=false. */
  kind: 'string' | 'list' | 'boolean';
  /** The value's placeholder in --help. */
  value?: string;
  env?: string;
  default?: string;
  help: string;
  /** Still accepted, with a warning, for one release; the text says what replaces it. */
  deprecated?: string;
}

export const FLAGS: readonly Flag[] = [
  { name: 'kubeconfig', kind: 'string', value: 'PATH', env: 'KUBECONFIG', help: 'kubeconfig to use; in a pod the in-cluster config' },
  { name: 'context', kind: 'string', value: 'NAME', help: 'kubeconfig context' },
  { name: 'namespace', kind: 'string', value: 'NS', env: 'WATCH_NAMESPACE', help: 'watch only this namespace; default: all' },
  { name: 'workers', kind: 'string', value: 'N', env: 'APISEC_WORKERS', default: '8', help: 'concurrent reconciles, 1-64 (each makes its writes one after another)' },
  { name: 'kube-api-qps', kind: 'string', value: 'N', default: '200', help: 'most requests per second to the API server (watches aside) after a burst, 0 for no limit; a cold start makes about 4 writes per policy' },
  { name: 'kube-api-burst', kind: 'string', value: 'N', default: '400', help: 'requests that may go at once before --kube-api-qps applies' },
  { name: 'metrics-bind-address', kind: 'string', value: 'HOST:PORT', default: ':8080', help: 'address of /metrics; ":8080" is every interface, "127.0.0.1:0" a free port on loopback' },
  { name: 'health-probe-bind-address', kind: 'string', value: 'HOST:PORT', default: ':8081', help: 'address of /healthz and /readyz; the same address as --metrics-bind-address serves all on one port' },
  { name: 'metrics-auth', kind: 'string', value: 'MODE', default: 'none', help: 'who may read /metrics: none (anyone who reaches the port) or kubernetes (a bearer token the API server authenticates, TokenReview, of a user RBAC allows get on the non-resource URL /metrics, SubjectAccessReview; served over HTTPS; /healthz and /readyz stay open)' },
  { name: 'metrics-cert-dir', kind: 'string', value: 'DIR', help: 'with --metrics-auth=kubernetes: the directory of tls.crt and tls.key for /metrics, read at start and again when they change (checked every 10 s); without it a self-signed certificate is made at start' },
  { name: 'webhook-bind-address', kind: 'string', value: 'HOST:PORT', help: 'serve the sidecar injection webhook (HTTPS, POST /mutate-pods) at this address, e.g. :9443; default: not served' },
  { name: 'webhook-cert-dir', kind: 'string', value: 'DIR', help: 'with --webhook-bind-address: the directory of tls.crt and tls.key (the certificate the webhook configuration\'s caBundle trusts), read at start and again when they change (checked every 10 s)' },
  { name: 'sidecar-image', kind: 'string', value: 'IMAGE', env: 'APISEC_SIDECAR_IMAGE', default: SIDECAR_IMAGE, help: 'the image of the injected sidecar: any nginx with nginx on its PATH; it runs as uid 101, not root' },
  { name: 'leader-elect', kind: 'boolean', default: 'true', help: 'elect a leader with a Lease; --leader-elect=false runs without (one replica only)' },
  { name: 'leader-election-namespace', kind: 'string', value: 'NS', env: 'POD_NAMESPACE', default: 'apisec-system', help: 'namespace of the Lease' },
  { name: 'leader-election-id', kind: 'string', value: 'NAME', default: 'api-security-operator', help: 'name of the Lease' },
  { name: 'resync', kind: 'string', value: 'DURATION', default: '10m', help: 'periodic re-check of each policy, e.g. 10m, 30s' },
  { name: 'cache-sync-timeout', kind: 'string', value: 'DURATION', default: '2m', help: 'exit if the caches have not synced by then, e.g. RBAC or CRDs missing; 0s waits forever' },
  { name: 'watch-timeout', kind: 'string', value: 'DURATION', default: '5m', help: 'how long one watch request lasts before it is renewed (1s-1h); a watch silent for longer (plus up to 30 s) is taken as a dead connection and restarted' },
  { name: 'request-timeout', kind: 'string', value: 'DURATION', default: '70s', help: 'bound on every API request but watches, answer included (1s-10m); a request past it (a stalled connection) fails and is retried' },
  { name: 'discovery-interval', kind: 'string', value: 'DURATION', default: '5m', help: 'how often the optional APIs (Traefik, Gateway API, Envoy Gateway, PolicyReport CRDs) are looked for again, 1s-1h' },
  { name: 'log-level', kind: 'string', value: 'LEVEL', env: 'LOG_LEVEL', default: 'info', help: 'trace|debug|info|warn|error' },
  { name: 'ingress-class', kind: 'list', value: 'CLASS=PROVIDER', help: 'data plane of an ingress class (repeatable), PROVIDER one of ingress-nginx|traefik|haproxy; adds to nginx, ingress-nginx, traefik, haproxy' },
  { name: 'gateway-controller', kind: 'list', value: 'CONTROLLER=PROVIDER', help: "a GatewayClass controllerName and the data plane (envoy-gateway or traefik) of its Gateways' HTTPRoutes (repeatable); adds to gateway.envoyproxy.io/gatewayclass-controller=envoy-gateway and traefik.io/gateway-controller=traefik" },
  { name: 'ingress-controller', kind: 'list', value: 'PROVIDER=NAMESPACE/LABEL=VALUE[,LABEL=VALUE]', help: "where that controller's pods run, for NetworkPolicy peers (repeatable)" },
  { name: 'guard-url', kind: 'string', value: 'URL', env: 'APISEC_GUARD_URL', help: 'base URL of the apisec guard (e.g. http://apisec-guard.apisec-system.svc:8080); jwt, oidc and apiKey without authURL are pointed at it, and without it they are reported Unsupported' },
  { name: 'allowed-auth-host', kind: 'list', value: 'HOST', help: 'a host that auth URLs of policies may name (repeatable): exact, or *.suffix for the names below a domain; with any, other hosts are refused; an IP address or localhost only when listed exactly' },
  { name: 'trusted-proxy', kind: 'list', value: 'CIDR', help: 'a proxy in front of the data planes (load balancer; the ingress controller before a sidecar) whose X-Forwarded-For names the client (repeatable); Traefik and the sidecar then key allow-lists and rate limits on the client, not the previous hop' },
  { name: 'rate-limit-store', kind: 'string', value: 'HOST:PORT', env: 'APISEC_RATE_LIMIT_STORE', help: "the Redis or Valkey that rateLimit.scope Global counts in, set by the platform team (policies cannot name one); Traefik's rateLimit.redis and the guard use it; without it Global limits are reported not enforced" },
  { name: 'rate-limit-store-secret', kind: 'string', value: 'NAME', help: "the store needs credentials, which the guard reads (username, password of this Secret in the operator's namespace); never copied to tenants' namespaces, so Traefik cannot use such a store" },
  { name: 'help', kind: 'boolean', help: 'show this help' },
  { name: 'version', kind: 'boolean', help: 'print the version' },
  { name: 'metrics-port', kind: 'string', value: 'PORT', deprecated: 'use --metrics-bind-address=HOST:PORT (a host-only --metrics-bind-address is deprecated too)', help: 'port of /metrics, and of /healthz and /readyz unless --health-probe-bind-address is set; --metrics-bind-address then takes a host only (e.g. 0.0.0.0)' },
];

const COLUMN = 32;
const WIDTH = 104;

/** One flag in --help: its usage, then the text wrapped under the second column. */
function helpLines(f: Flag): string[] {
  const usage = `  --${f.name}${f.value ? ` ${f.value}` : ''}`;
  const notes = [f.default !== undefined && f.kind !== 'boolean' ? `default ${f.default}` : '', f.env ? `env ${f.env}` : ''].filter(Boolean);
  const words = `${f.help}${notes.length ? ` (${notes.join('; ')})` : ''}${f.deprecated ? `; deprecated: ${f.deprecated}` : ''}`.split(' ');
  const lines: string[] = [];
  let line = usage.length < COLUMN ? usage.padEnd(COLUMN) : (lines.push(usage), ' '.repeat(COLUMN));
  for (const w of words) {
    if (line.trim() !== '' && line.length > COLUMN && line.length + 1 + w.length > WIDTH) {
      lines.push(line.trimEnd());
      line = ' '.repeat(COLUMN);
    }
    line += line.length > COLUMN ? ` ${w}` : w;
  }
  lines.push(line.trimEnd());
  return lines;
}

export const HELP = `api-security-operator — reconciles ApiSecurityPolicy resources into enforced controls

Usage: npm start -- [flags]     (or: node dist/main.js [flags])

Flags:
${FLAGS.filter((f) => !f.deprecated).flatMap(helpLines).join('\n')}

Deprecated flags (accepted with a warning until the next release):
${FLAGS.filter((f) => f.deprecated).flatMap(helpLines).join('\n')}
`;

const PROVIDERS = new Set(['ingress-nginx', 'traefik', 'haproxy']);
/** Data planes whose pods NetworkPolicies admit (--ingress-controller): the Ingress controllers and Envoy Gateway's proxies. */
const PEER_PROVIDERS = new Set([...PROVIDERS, 'envoy-gateway']);
const LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

export class ConfigError extends Error {}

export function parseDuration(s: string): number {
  const m = /^([0-9]+)(ms|s|m|h)$/.exec(s);
  if (!m) throw new ConfigError(`invalid duration "${s}" (use e.g. 30s, 10m, 1h)`);
  const n = Number(m[1]);
  return n * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'];
}

/** --watch-timeout in whole seconds, 1 s to 1 h (the API server's own watch limit is in that range). */
function watchTimeout(v: string): number {
  const ms = parseDuration(v);
  if (ms < 1000 || ms > 3_600_000 || ms % 1000 !== 0) throw new ConfigError(`--watch-timeout must be whole seconds from 1s to 1h, got "${v}"`);
  return ms / 1000;
}

function discoveryInterval(v: string): number {
  const ms = parseDuration(v);
  if (ms < 1000 || ms > 3_600_000) throw new ConfigError(`--discovery-interval must be from 1s to 1h, got "${v}"`);
  return ms;
}

function requestTimeout(v: string): number {
  const ms = parseDuration(v);
  if (ms < 1000 || ms > 600_000) throw new ConfigError(`--request-timeout must be from 1s to 10m, got "${v}"`);
  return ms;
}

function int(name: string, v: string, min: number, max: number): number {
  if (!/^[0-9]+$/.test(v) || Number(v) < min || Number(v) > max) throw new ConfigError(`--${name} must be a whole number from ${min} to ${max}, got "${v}"`);
  return Number(v);
}

const ADDRESS_HINT = '(e.g. :8080, 127.0.0.1:0, [::1]:8080)';

/**
 * HOST:PORT as Go's net.Listen takes it: ":8080", "127.0.0.1:0", "[::1]:8080". Undefined for a bare
 * host ("127.0.0.1", "::1"), the deprecated form of --metrics-bind-address the caller decides on.
 */
export function parseAddress(name: string, v: string): ListenAddress | undefined {
  const colons = v.split(':').length - 1;
  if (/^[0-9]+$/.test(v)) throw new ConfigError(`--${name} must be HOST:PORT ${ADDRESS_HINT}, got "${v}" (a port alone is written :${v})`);
  if (colons === 0 || (colons >= 2 && !v.startsWith('['))) {
    if (!/^[A-Za-z0-9.:%-]+$/.test(v)) throw new ConfigError(`--${name} must be HOST:PORT ${ADDRESS_HINT}, got "${v}"`);
    return undefined;
  }
  const m = /^(?:\[([A-Fa-f0-9.:%]+)\]|([A-Za-z0-9.%-]*)):([0-9]+)$/.exec(v);
  if (!m) throw new ConfigError(`--${name} must be HOST:PORT ${ADDRESS_HINT}, got "${v}"`);
  const host = m[1] ?? m[2] ?? '';
  const port = int(name, m[3]!, 0, 65535);
  return host ? { host, port } : { port };
}

/** The address as the flags write it: ":8080", "127.0.0.1:0", "[::1]:8080". */
export const formatAddress = (a: ListenAddress): string => `${a.host?.includes(':') ? `[${a.host}]` : (a.host ?? '')}:${a.port}`;

/** The first value allowed, or a ConfigError naming the flag and the choices (the CLI reuses it). */
export function oneOf<T extends string>(name: string, value: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(value)) throw new ConfigError(`--${name} must be one of ${allowed.join(', ')}, got "${value}"`);
  return value as T;
}

/** --ingress-class CLASS=PROVIDER values over the built-in classes (the CLI's flag of the same name too). */
export function parseIngressClasses(values: readonly string[], base: Record<string, IngressProvider> = defaultSettings.ingressClasses): Record<string, IngressProvider> {
  const classes = { ...base };
  for (const v of values) {
    const [cls, provider] = v.split('=');
    if (!cls || !provider || !PROVIDERS.has(provider)) throw new ConfigError(`--ingress-class expects CLASS=PROVIDER (ingress-nginx|traefik|haproxy), got "${v}"`);
    classes[cls] = provider as IngressProvider;
  }
  return classes;
}

function controllerPeer(v: string): [Provider, ControllerPeer] {
  const m = /^([a-z-]+)=([a-z0-9-]+)\/(.+)$/.exec(v);
  if (!m || !PEER_PROVIDERS.has(m[1]!)) throw new ConfigError(`--ingress-controller expects PROVIDER=NAMESPACE/LABEL=VALUE[,LABEL=VALUE] (PROVIDER one of ${[...PEER_PROVIDERS].join('|')}), got "${v}"`);
  const podLabels: Record<string, string> = {};
  for (const pair of m[3]!.split(',')) {
    const [k, val] = pair.split('=');
    if (!k || val === undefined) throw new ConfigError(`--ingress-controller: "${pair}" is not LABEL=VALUE`);
    podLabels[k] = val;
  }
  return [m[1] as Provider, { namespace: m[2]!, podLabels }];
}

/** --gateway-controller CONTROLLER=PROVIDER values over the built-in ones (Envoy Gateway's and Traefik's controllerNames). */
export function parseGatewayControllers(values: readonly string[]): Record<string, RouteProvider> {
  const out: Record<string, RouteProvider> = { ...defaultSettings.gatewayControllers };
  for (const v of values) {
    const i = v.lastIndexOf('=');
    const controller = v.slice(0, i);
    // A controllerName is a domain-prefixed path (Gateway API's GatewayController type).
    const provider = v.slice(i + 1) as RouteProvider;
    if (i <= 0 || !ROUTE_PROVIDERS.includes(provider) || !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/[A-Za-z0-9/\-._~%!$&'()*+,;=:]+$/.test(controller) || controller.length > 253) {
      throw new ConfigError(`--gateway-controller expects CONTROLLER=${ROUTE_PROVIDERS.join('|')}, CONTROLLER a GatewayClass controllerName such as example.com/gateway-controller, got "${v}"`);
    }
    out[controller] = provider;
  }
  return out;
}

/** --allowed-auth-host values, each an exact host or *.suffix (the CLI's flag of the same name too). */
export function parseAuthHosts(values: readonly string[]): string[] {
  for (const v of values) {
    if (!isAllowedHostEntry(v)) throw new ConfigError(`--allowed-auth-host expects a host (auth.example.com, 10.0.0.5) or *.suffix (*.auth.svc.cluster.local) in lower case, got "${v}"`);
  }
  return [...new Set(values)];
}

/** --trusted-proxy values: IPv4 or IPv6 CIDRs. */
export function parseTrustedProxies(values: readonly string[]): string[] {
  for (const v of values) if (!isCidr(v)) throw new ConfigError(`--trusted-proxy expects a CIDR such as 10.0.0.0/8 or fd00::/8, got "${v}"`);
  return [...new Set(values)];
}

/** The list flags that shape what is rendered. */
interface SettingsFlags {
  classes: string[];
  controllers: string[];
  authHosts: string[];
  trustedProxies: string[];
  gatewayControllers: string[];
}

function parseSettings({ classes, controllers, authHosts, trustedProxies, gatewayControllers }: SettingsFlags): OperatorSettings {
  const settings: OperatorSettings = {
    ingressClasses: parseIngressClasses(classes),
    gatewayControllers: parseGatewayControllers(gatewayControllers),
    ingressControllers: { ...defaultSettings.ingressControllers },
    ...(authHosts.length ? { authHosts: parseAuthHosts(authHosts) } : {}),
    ...(trustedProxies.length ? { trustedProxies: parseTrustedProxies(trustedProxies) } : {}),
  };
  for (const v of controllers) {
    const [provider, peer] = controllerPeer(v);
    settings.ingressControllers[provider] = peer;
  }
  return settings;
}

/** --rate-limit-store: host:port, a lower-case DNS name or IPv4 address; it reaches Middlewares verbatim. */
export function parseStoreEndpoint(v: string): string {
  if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?:[0-9]{1,5}$/.test(v) || Number(v.split(':')[1]) > 65535) throw new ConfigError(`--rate-limit-store must be HOST:PORT with a lower-case DNS name or IPv4 host, got "${v}"`);
  return v;
}

/** http(s)://host[:port] only: the data planes append /check/{namespace}/{policy}; it reaches nginx configs verbatim. */
export function parseGuardURL(v: string): string {
  const m = /^(https?:\/\/[a-z0-9]([-a-z0-9.]*[a-z0-9])?(:[0-9]{1,5})?)\/?$/.exec(v);
  if (!m?.[1]) throw new ConfigError(`--guard-url must be http(s)://HOST[:PORT] with a lower-case DNS name or IPv4 host, got "${v}"`);
  return m[1];
}

const BOOLEAN = /^(true|false)$/;

/**
 * Splits off the boolean flags, which Go's flag package (and so every Kubernetes component) writes as
 * --name or --name=false; node:util parseArgs has no such form. "--leader-elect false", which the old
 * string flag took, still works for one release, with a warning.
 */
function booleans(argv: readonly string[], warnings: string[]): { rest: string[]; flags: Map<string, boolean> } {
  const names = new Set(FLAGS.filter((f) => f.kind === 'boolean').map((f) => f.name));
  const rest: string[] = [];
  const flags = new Map<string, boolean>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      rest.push(...argv.slice(i));
      break;
    }
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(arg);
    if (!m || !names.has(m[1]!)) {
      rest.push(arg);
      continue;
    }
    const [, name, value] = m as unknown as [string, string, string | undefined];
    if (value !== undefined && !BOOLEAN.test(value)) throw new ConfigError(`--${name} is true or false, got "${value}"`);
    if (value === undefined && name === 'leader-elect' && BOOLEAN.test(argv[i + 1] ?? '')) {
      warnings.push(`"--leader-elect ${argv[i + 1]}" is deprecated and will be removed in the next release: use --leader-elect=${argv[i + 1]}`);
      flags.set(name, argv[++i] === 'true');
      continue;
    }
    flags.set(name, value !== 'false');
  }
  return { rest, flags };
}

/**
 * --metrics-bind-address HOST:PORT and --health-probe-bind-address HOST:PORT. The old form, a host in
 * --metrics-bind-address and the port in --metrics-port, still works with a warning; then the probes
 * stay on the metrics server, where the old flags put them, unless their own flag is set.
 */
function addresses(metricsFlag: string | undefined, portFlag: string | undefined, healthFlag: string | undefined, warnings: string[]): Pick<OperatorConfig, 'metricsAddress' | 'healthProbeAddress'> {
  const parsed = metricsFlag === undefined ? undefined : parseAddress('metrics-bind-address', metricsFlag);
  const health = healthFlag === undefined ? undefined : parseAddress('health-probe-bind-address', healthFlag);
  if (healthFlag !== undefined && !health) throw new ConfigError(`--health-probe-bind-address must be HOST:PORT ${ADDRESS_HINT}, got "${healthFlag}"`);
  if (parsed && portFlag !== undefined) throw new ConfigError(`--metrics-port cannot be combined with --metrics-bind-address HOST:PORT ("${metricsFlag}"): drop --metrics-port`);
  if (metricsFlag === undefined && portFlag === undefined) return { metricsAddress: { port: 8080 }, healthProbeAddress: health ?? { port: 8081 } };
  if (parsed) return { metricsAddress: parsed, healthProbeAddress: health ?? { port: 8081 } };
  // The deprecated form: a host (or nothing) and --metrics-port.
  const host = metricsFlag ?? '0.0.0.0';
  const port = int('metrics-port', portFlag ?? '8080', 0, 65535);
  const metricsAddress = { host, port };
  const replacement = `--metrics-bind-address=${formatAddress(metricsAddress)}`;
  if (portFlag !== undefined) warnings.push(`--metrics-port is deprecated and will be removed in the next release: use ${replacement}`);
  if (metricsFlag !== undefined) warnings.push(`--metrics-bind-address without a port ("${host}") is deprecated and will be removed in the next release: use ${replacement}`);
  return { metricsAddress, healthProbeAddress: health ?? metricsAddress };
}

/** --webhook-bind-address and --webhook-cert-dir: both or neither. */
function webhook(address: string | undefined, certDir: string | undefined, rest: Pick<WebhookConfig, 'image' | 'operatorNamespace'>): Pick<OperatorConfig, 'webhook'> {
  if (address === undefined) {
    if (certDir !== undefined) throw new ConfigError('--webhook-cert-dir needs --webhook-bind-address: the certificate serves the webhook');
    return {};
  }
  const parsed = parseAddress('webhook-bind-address', address);
  if (!parsed) throw new ConfigError(`--webhook-bind-address must be HOST:PORT ${ADDRESS_HINT}, got "${address}"`);
  if (!certDir) throw new ConfigError('--webhook-bind-address needs --webhook-cert-dir: the API server calls the webhook over HTTPS and must trust its certificate');
  return { webhook: { address: parsed, certDir, ...rest } };
}

/** --metrics-auth and --metrics-cert-dir: a certificate only serves an authenticated /metrics. */
function metricsAuth(mode: string, certDir: string | undefined): Pick<OperatorConfig, 'metricsAuth' | 'metricsCertDir'> {
  const metricsAuth = oneOf('metrics-auth', mode, METRICS_AUTH_MODES);
  if (certDir === undefined) return { metricsAuth };
  if (metricsAuth !== 'kubernetes') throw new ConfigError(`--metrics-cert-dir needs --metrics-auth=kubernetes: /metrics is served over HTTPS only when it checks tokens`);
  if (certDir === '') throw new ConfigError('--metrics-cert-dir must name a directory with tls.crt and tls.key, got ""');
  return { metricsAuth, metricsCertDir: certDir };
}

export function parseConfig(argv: string[], env: NodeJS.ProcessEnv): OperatorConfig | 'help' | 'version' {
  const warnings: string[] = [];
  const { rest, flags: bools } = booleans(argv, warnings);
  const options = Object.fromEntries(FLAGS.filter((f) => f.kind !== 'boolean').map((f) => [f.name, { type: 'string' as const, multiple: f.kind === 'list' }]));
  const { values } = parseArgs({ args: rest, strict: true, options });
  if (bools.get('help')) return 'help';
  if (bools.get('version')) return 'version';
  const flag = (name: string): Flag => FLAGS.find((f) => f.name === name)!;
  /** The flag, else its environment variable, else its default (all from FLAGS). */
  const given = (name: string): string | undefined => {
    const v = values[name];
    return typeof v === 'string' ? v : flag(name).env !== undefined ? env[flag(name).env!] : undefined;
  };
  const get = (name: string): string => given(name) ?? flag(name).default!;
  const list = (name: string): string[] => (values[name] as string[] | undefined) ?? [];

  const settings = parseSettings({
    classes: list('ingress-class'),
    controllers: list('ingress-controller'),
    authHosts: list('allowed-auth-host'),
    trustedProxies: list('trusted-proxy'),
    gatewayControllers: list('gateway-controller'),
  });
  const guardURL = given('guard-url');
  if (guardURL !== undefined) settings.guardURL = parseGuardURL(guardURL);
  const store = given('rate-limit-store');
  if (store === undefined && given('rate-limit-store-secret') !== undefined) throw new ConfigError('--rate-limit-store-secret names the credentials of --rate-limit-store, which is not set');
  if (store !== undefined) settings.rateLimitStore = { endpoint: parseStoreEndpoint(store), credentials: given('rate-limit-store-secret') !== undefined };
  const kubeconfig = given('kubeconfig');
  const namespace = given('namespace');
  const context = given('context');
  return {
    ...(kubeconfig ? { kubeconfig } : {}),
    ...(context ? { context } : {}),
    ...(namespace ? { namespace } : {}),
    workers: int('workers', get('workers'), 1, 64),
    kubeApiQps: int('kube-api-qps', get('kube-api-qps'), 0, 100_000),
    kubeApiBurst: int('kube-api-burst', get('kube-api-burst'), 1, 100_000),
    ...addresses(given('metrics-bind-address'), given('metrics-port'), given('health-probe-bind-address'), warnings),
    ...metricsAuth(get('metrics-auth'), given('metrics-cert-dir')),
    ...webhook(given('webhook-bind-address'), given('webhook-cert-dir'), { image: get('sidecar-image'), operatorNamespace: env.POD_NAMESPACE ?? get('leader-election-namespace') }),
    leaderElect: bools.get('leader-elect') ?? true,
    leaderElectionNamespace: get('leader-election-namespace'),
    leaderElectionId: get('leader-election-id'),
    identity: env.POD_NAME ?? `${env.HOSTNAME ?? 'local'}-${process.pid}`,
    resyncMs: parseDuration(get('resync')),
    cacheSyncTimeoutMs: parseDuration(get('cache-sync-timeout')),
    watchTimeoutSeconds: watchTimeout(get('watch-timeout')),
    requestTimeoutMs: requestTimeout(get('request-timeout')),
    discoveryIntervalMs: discoveryInterval(get('discovery-interval')),
    logLevel: oneOf('log-level', get('log-level'), LEVELS),
    settings,
    warnings,
  };
}
