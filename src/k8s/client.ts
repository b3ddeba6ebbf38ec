// A small REST client over client-node's KubeConfig (authentication, TLS, proxies) and undici.
// The operator needs few verbs — list (paged), watch, server-side apply (also on /status), delete,
// create/update for the Lease — and it needs every request counted and every error classified, so it
// speaks REST directly instead of through the generated per-group API classes.
import type { AgentOptions } from 'node:https';
import type { KubeConfig} from '@kubernetes/client-node';
import { RequestContext, bufferFromFileOrString } from '@kubernetes/client-node';
import { Agent, ProxyAgent, fetch, type Dispatcher, type Response } from 'undici';
import { ApiError } from './errors.ts';
import { TokenBucket } from './rate-limit.ts';

export const FIELD_MANAGER = 'api-security-operator';

export type Verb = 'get' | 'list' | 'watch' | 'create' | 'update' | 'patch' | 'delete';

export interface RequestObserver {
  /** Called once per completed request (status 0 for a network error). */
  (verb: Verb, resource: string, status: number, seconds: number): void;
}

export interface RequestOptions {
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  contentType?: string;
  /** The Accept header (default application/json), e.g. to ask for metadata only. */
  accept?: string;
  signal?: AbortSignal;
  /** For metrics: what kind of request this is. */
  verb: Verb;
}

export interface KubeClientOptions {
  /** Most pooled connections for ordinary (non-watch) requests. */
  maxConnections?: number;
  /** Bound on an ordinary request, answer included (watches have their informer's watchdog). */
  requestTimeoutMs?: number;
  /** How long one watch request lasts before the informer renews it (the default of its informers). */
  watchTimeoutSeconds?: number;
  /** Sent as User-Agent, so the API server's audit log tells the replicas apart (as client-go does). */
  userAgent?: string;
  /** Ordinary requests per second after a burst (rate-limit.ts); unset or 0: no limit. Watches are not limited. */
  qps?: number;
  /** Requests that may go at once before qps applies (default 2 × qps). */
  burst?: number;
}

export const DEFAULT_WATCH_TIMEOUT_SECONDS = 300;

/**
 * The API server ends an ordinary request after 60 s itself (--request-timeout); past that a request is
 * stuck on a dead or stalled connection, and the worker waiting for it would wait forever.
 */
export const DEFAULT_REQUEST_TIMEOUT_MS = 70_000;

/** Default cap on connections for ordinary requests: well above the workers that issue them. */
export const DEFAULT_MAX_CONNECTIONS = 32;

// client-node's applySecurityAuthentication builds a new undici Agent per call (so a new TCP+TLS
// connection, and the CA file read again, per request). We build the dispatchers once and ask
// client-node only for the auth header, which can change (exec plugins, token files).
type AuthHeaderSource = { applyAuthorizationHeader(opts: { headers: Record<string, unknown> }): Promise<void> };

export class KubeClient {
  readonly server: string;
  private readonly observers: RequestObserver[] = [];

  readonly config: KubeConfig;
  /** Ordinary requests: a bounded keep-alive pool (replaced after a request timed out). */
  private requests: Dispatcher | 'socks';
  private readonly maxConnections: number;
  /**
   * Watches: each holds its connection for minutes, so they get their own pool. Sharing the capped
   * pool, N informers would pin N of its connections and leave requests waiting behind them.
   */
  private readonly streams: Dispatcher | 'socks';
  /** Through a SOCKS proxy: client-node's dispatcher, made on first use and shared (not capped). */
  private socks: Promise<Dispatcher | undefined> | undefined;
  /** Headers that do not change per request (basic auth, impersonation). */
  private readonly fixedHeaders: Record<string, string> = {};
  private readonly requestTimeoutMs: number;
  readonly watchTimeoutSeconds: number;
  private readonly limit: TokenBucket | undefined;

  constructor(config: KubeConfig, opts: KubeClientOptions = {}) {
    this.config = config;
    const cluster = config.getCurrentCluster();
    if (!cluster) throw new Error('kubeconfig has no current cluster');
    this.server = cluster.server.replace(/\/+$/, '');
    if (typeof (config as unknown as Partial<AuthHeaderSource>).applyAuthorizationHeader !== 'function') {
      throw new Error('this @kubernetes/client-node has no applyAuthorizationHeader; KubeClient needs updating');
    }
    const user = config.getCurrentUser();
    if (user?.username) this.fixedHeaders.Authorization = `Basic ${Buffer.from(`${user.username}:${user.password ?? ''}`).toString('base64')}`;
    if (user?.impersonateUser) this.fixedHeaders['Impersonate-User'] = user.impersonateUser;
    this.requestTimeoutMs = opts.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    if (opts.userAgent) this.fixedHeaders['User-Agent'] = opts.userAgent;
    this.watchTimeoutSeconds = opts.watchTimeoutSeconds ?? DEFAULT_WATCH_TIMEOUT_SECONDS;
    this.maxConnections = opts.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
    this.requests = buildDispatcher(config, { connections: this.maxConnections });
    this.streams = buildDispatcher(config, { connections: null });
    if (opts.qps) this.limit = new TokenBucket(opts.qps, opts.burst || 2 * opts.qps);
  }

  onRequest(observer: RequestObserver): void {
    this.observers.push(observer);
  }

  /** Closes the pooled connections (open watches are ended). */
  async close(): Promise<void> {
    const socks = await this.socks?.catch(() => undefined);
    const all = [this.requests, this.streams, socks].filter((d): d is Dispatcher => d !== undefined && d !== 'socks');
    await Promise.all(all.map((d) => d.destroy().catch(() => undefined)));
  }

  private async dispatcher(streaming: boolean): Promise<Dispatcher | undefined> {
    const d = streaming ? this.streams : this.requests;
    if (d !== 'socks') return d;
    this.socks ??= socksDispatcher(this.config).catch((err: unknown) => {
      this.socks = undefined; // try again on the next request
      throw err;
    });
    return this.socks;
  }

  private async authHeaders(): Promise<Record<string, string>> {
    const opts = { headers: {} as Record<string, unknown> };
    // Computed per request: exec plugins and token files (in-cluster) rotate credentials.
    await (this.config as unknown as AuthHeaderSource).applyAuthorizationHeader(opts);
    const headers: Record<string, string> = { ...this.fixedHeaders };
    for (const [k, v] of Object.entries(opts.headers)) headers[k] = String(v);
    return headers;
  }

  private async send(method: string, path: string, opts: RequestOptions, streaming = false): Promise<Response> {
    const url = new URL(this.server + path);
    for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    const headers: Record<string, string> = { ...(await this.authHeaders()), Accept: opts.accept ?? 'application/json' };
    let body: string | undefined;
    if (opts.body !== undefined) {
      body = JSON.stringify(opts.body);
      headers['Content-Type'] = opts.contentType ?? 'application/json';
    }
    const dispatcher = await this.dispatcher(streaming);
    if (!streaming) await this.limit?.take();
    const started = performance.now();
    const resource = resourceOf(path);
    const signal = streaming ? opts.signal : this.bounded(opts.signal);
    try {
      const res = await fetch(url, { method, headers, body, signal, ...(dispatcher ? { dispatcher } : {}) });
      this.observe(opts.verb, resource, res.status, started);
      return res;
    } catch (err) {
      this.observe(opts.verb, resource, 0, started);
      if (!streaming && (err as Error).name === 'TimeoutError') this.replaceRequestPool(dispatcher);
      throw ApiError.fromNetwork(method, path, err);
    }
  }

  /**
   * A request that timed out went over a connection that stopped answering, and the pool's other
   * connections most likely share its fate (a stalled middlebox, a dead peer): the next requests get a
   * fresh pool; the old one takes no new request and closes once those in flight end (each has its
   * own timeout).
   */
  private replaceRequestPool(used: Dispatcher | undefined): void {
    if (this.requests === 'socks' || used !== this.requests) return;
    const old = this.requests;
    this.requests = buildDispatcher(this.config, { connections: this.maxConnections });
    void old.close().catch(() => undefined);
  }

  /** The caller's signal, or the request timeout, whichever fires first. */
  private bounded(signal: AbortSignal | undefined): AbortSignal {
    const timeout = AbortSignal.timeout(this.requestTimeoutMs);
    return signal ? AbortSignal.any([signal, timeout]) : timeout;
  }

  private observe(verb: Verb, resource: string, status: number, started: number): void {
    const seconds = (performance.now() - started) / 1000;
    for (const o of this.observers) o(verb, resource, status, seconds);
  }

  /**
   * A request whose JSON answer is returned; any non-2xx status throws an ApiError. An answer of 429 or
   * 5xx with a short Retry-After (the API server's priority and fairness, a server shutting down) is
   * retried after that wait, up to MAX_RETRY_AFTER times, as client-go does; the server did not act on it.
   */
  async request<T>(method: string, path: string, opts: RequestOptions): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const res = await this.send(method, path, opts);
      const wait = attempt <= MAX_RETRY_AFTER ? retryAfterMs(res) : undefined;
      if (wait === undefined) return this.answer<T>(res, method, path);
      await res.body?.cancel().catch(() => undefined);
      await sleep(wait, opts.signal);
    }
  }

  private async answer<T>(res: Response, method: string, path: string): Promise<T> {
    let text: string;
    try {
      text = await res.text();
    } catch (err) {
      // The answer stopped mid-body (the request timeout fired while reading it).
      if ((err as Error).name === 'TimeoutError' && this.requests !== 'socks') this.replaceRequestPool(this.requests);
      throw ApiError.fromNetwork(method, path, err);
    }
    if (!res.ok) throw ApiError.fromResponse({ method, path }, { status: res.status, body: text, retryAfter: res.headers.get('retry-after') });
    return (text ? JSON.parse(text) : {}) as T;
  }

  /** Opens a streaming request (watch); the caller reads and closes the body. */
  async stream(path: string, opts: RequestOptions): Promise<Response> {
    const res = await this.send('GET', path, opts, true);
    if (!res.ok) {
      const text = await res.text();
      throw ApiError.fromResponse({ method: 'GET', path }, { status: res.status, body: text, retryAfter: res.headers.get('retry-after') });
    }
    return res;
  }
}

/** How often one request is retried after a Retry-After, and the longest wait the client itself takes. */
export const MAX_RETRY_AFTER = 10;
const MAX_RETRY_AFTER_MS = 10_000;

/** The Retry-After of a 429 or 5xx answer in ms, when it is a short number of seconds; else undefined. */
function retryAfterMs(res: Response): number | undefined {
  if (res.status !== 429 && res.status < 500) return undefined;
  const v = res.headers.get('retry-after');
  if (!v || !/^[0-9]{1,4}$/.test(v)) return undefined;
  const ms = Number(v) * 1000;
  return ms <= MAX_RETRY_AFTER_MS ? ms : undefined;
}

/** Waits, or stops waiting when the signal fires (the request then fails as aborted). */
function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(ApiError.fromNetwork('WAIT', '', signal.reason));
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(ApiError.fromNetwork('WAIT', '', signal?.reason));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * One undici dispatcher for the current cluster and user: TLS material (CA, client certificate and key,
 * skip-verify, server name) is read once, client-node maps it and the proxy setting to undici options.
 * A SOCKS proxy needs client-node's own connector, so that dispatcher is taken from client-node once.
 */
function buildDispatcher(kc: KubeConfig, pool: { connections: number | null }): Dispatcher | 'socks' {
  const cluster = kc.getCurrentCluster();
  const user = kc.getCurrentUser();
  const tls: AgentOptions = {};
  if (user) {
    if (cluster?.skipTLSVerify) tls.rejectUnauthorized = false;
    if (cluster?.tlsServerName) tls.servername = cluster.tlsServerName;
    const ca = cluster ? bufferFromFileOrString(cluster.caFile, cluster.caData) : null;
    if (ca) tls.ca = ca;
    const cert = bufferFromFileOrString(user.certFile, user.certData);
    if (cert) tls.cert = cert;
    const key = bufferFromFileOrString(user.keyFile, user.keyData);
    if (key) tls.key = key;
  }
  const d = kc.createDispatcherOptions(cluster, tls);
  // Idle keep-alive sockets are closed after 30 s, below typical load-balancer idle timeouts.
  const common = { ...pool, keepAliveTimeout: 30_000 };
  switch (d.type) {
    case 'agent':
      return new Agent({ ...common, connect: d.connect });
    case 'proxy':
      return new ProxyAgent({ ...common, uri: d.uri, requestTls: d.requestTls, connect: d.connect });
    case 'none':
      return new Agent(common);
    case 'socks':
      return 'socks';
  }
}

async function socksDispatcher(kc: KubeConfig): Promise<Dispatcher | undefined> {
  const ctx = new RequestContext(kc.getCurrentCluster()?.server ?? '', 'GET' as never);
  await kc.applySecurityAuthentication(ctx);
  return ctx.getDispatcher() as Dispatcher | undefined;
}

/** "/apis/g/v/namespaces/ns/things/name/status" → "things/status", for metrics labels. */
export function resourceOf(path: string): string {
  const parts = path.split('?')[0]!.split('/').filter(Boolean);
  const start = parts[0] === 'api' ? 2 : 3;
  const rest = parts.slice(start);
  if (rest[0] === 'namespaces' && rest.length > 2) rest.splice(0, 2);
  const resource = rest[0] ?? 'unknown';
  return rest.length > 2 ? `${resource}/${rest[2]}` : resource;
}
