// A small REST client over client-node's KubeConfig (authentication, TLS, proxies) and undici.
// The operator needs few verbs — list (paged), watch, server-side apply (also on /status), delete,
// create/update for the Lease — and it needs every request counted and every error classified, so it
// speaks REST directly instead of through the generated per-group API classes.
import { KubeConfig, RequestContext } from '@kubernetes/client-node';
import { fetch, type Response } from 'undici';
import { ApiError } from './errors.ts';

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
  signal?: AbortSignal;
  /** For metrics: what kind of request this is. */
  verb: Verb;
}

export class KubeClient {
  readonly server: string;
  private readonly observers: RequestObserver[] = [];

  readonly config: KubeConfig;

  constructor(config: KubeConfig) {
    this.config = config;
    const cluster = config.getCurrentCluster();
    if (!cluster) throw new Error('kubeconfig has no current cluster');
    this.server = cluster.server.replace(/\/+$/, '');
  }

  static fromKubeconfig(path?: string, context?: string): KubeClient {
    const kc = new KubeConfig();
    if (path) kc.loadFromFile(path);
    else kc.loadFromDefault();
    if (context) kc.setCurrentContext(context);
    return new KubeClient(kc);
  }

  onRequest(observer: RequestObserver): void {
    this.observers.push(observer);
  }

  private async send(method: string, path: string, opts: RequestOptions): Promise<Response> {
    const url = new URL(this.server + path);
    for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    const ctx = new RequestContext(url.toString(), method as never);
    await this.config.applySecurityAuthentication(ctx);
    const headers: Record<string, string> = { ...ctx.getHeaders(), Accept: 'application/json' };
    let body: string | undefined;
    if (opts.body !== undefined) {
      body = JSON.stringify(opts.body);
      headers['Content-Type'] = opts.contentType ?? 'application/json';
    }
    const started = performance.now();
    const resource = resourceOf(path);
    try {
      const res = await fetch(url, { method, headers, body, signal: opts.signal, dispatcher: ctx.getDispatcher() });
      this.observe(opts.verb, resource, res.status, started);
      return res;
    } catch (err) {
      this.observe(opts.verb, resource, 0, started);
      throw ApiError.fromNetwork(method, path, err);
    }
  }

  private observe(verb: Verb, resource: string, status: number, started: number): void {
    const seconds = (performance.now() - started) / 1000;
    for (const o of this.observers) o(verb, resource, status, seconds);
  }

  /** A request whose JSON answer is returned; any non-2xx status throws an ApiError. */
  async request<T>(method: string, path: string, opts: RequestOptions): Promise<T> {
    const res = await this.send(method, path, opts);
    const text = await res.text();
    if (!res.ok) throw ApiError.fromResponse(method, path, res.status, text, res.headers.get('retry-after'));
    return (text ? JSON.parse(text) : {}) as T;
  }

  /** Opens a streaming request (watch); the caller reads and closes the body. */
  async stream(path: string, opts: RequestOptions): Promise<Response> {
    const res = await this.send('GET', path, opts);
    if (!res.ok) {
      const text = await res.text();
      throw ApiError.fromResponse('GET', path, res.status, text, res.headers.get('retry-after'));
    }
    return res;
  }
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
