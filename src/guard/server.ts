// The guard's HTTP shell (node:http): `/check/{namespace}/{policy}` with any method, since nginx's
// auth_request keeps the original one; followed by the original path and query when Envoy's ext_authz
// calls it (`path_prefix`: the check request is then the original method on prefix + original path).
// It reads the policy and its keys from GuardState, asks decide(), and answers: 2xx with the identity
// headers, 401 with a WWW-Authenticate challenge, 403 otherwise; a JSON body says why. Every denial is
// one JSON log line (policy, client, reason, subject; never a credential) and a metric; repeated
// authentication failures of one client are reported once per window.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { ApiSecurityPolicySpec } from '../api/v1alpha1.ts';
import type { FailureWindow, Suspicion } from './brute-force.ts';
import { decide, type CheckRequest, type Decision, type GuardPolicy, type Keys, type PolicyLookup } from './decide.ts';
import type { GuardMetrics } from './metrics.ts';
import { checkLimit, type OnStoreUnavailable } from './limit-check.ts';
import { parseCheckPath } from './paths.ts';
import type { Counter } from './store.ts';

export interface GuardSource {
  lookup(namespace: string, name: string): PolicyLookup;
  keysFor(namespace: string, spec: ApiSecurityPolicySpec): Keys;
}

export interface GuardServerOptions {
  host: string;
  port: number;
  source: GuardSource;
  metrics: GuardMetrics;
  log: Logger;
  failures: FailureWindow;
  onSuspicious?: (s: Suspicion, policy: GuardPolicy) => void;
  now?: () => Date;
  /** The rate-limit store's counter (--rate-limit-store), for Global limits. */
  counter?: Counter | undefined;
  onStoreUnavailable?: OnStoreUnavailable;
}

export interface GuardServer {
  port: number;
  close(): Promise<void>;
}

/** The address the data plane saw: the last X-Forwarded-For entry (the one it appended), else the peer. */
function clientOf(req: IncomingMessage): string {
  const xff = req.headers['x-forwarded-for'];
  const last = (Array.isArray(xff) ? xff.join(',') : xff)?.split(',').pop()?.trim();
  return (last || req.socket.remoteAddress || '').slice(0, 64);
}

function answer(res: ServerResponse, d: Decision): void {
  const headers: Record<string, string> = { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' };
  if (d.allow) Object.assign(headers, d.headers);
  else if (d.wwwAuthenticate) headers['WWW-Authenticate'] = d.wwwAuthenticate;
  const body = d.allow ? { allow: true, reason: d.reason } : { allow: false, reason: d.reason, detail: d.detail };
  res.writeHead(d.status, headers).end(JSON.stringify(body));
}

export async function startGuardServer(opts: GuardServerOptions): Promise<GuardServer> {
  const { source, metrics, log, failures } = opts;
  const now = opts.now ?? ((): Date => new Date());

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const started = process.hrtime.bigint();
    req.resume(); // the body is never read
    const check = parseCheckPath(req.url ?? '');
    if (!check) {
      res.writeHead(404, { 'Content-Type': 'application/json' }).end(JSON.stringify({ allow: false, reason: 'NotFound', detail: 'the guard answers /check/{namespace}/{policy}, optionally followed by the original path' }));
      return;
    }
    const { namespace, name, target } = check;
    const lookup = source.lookup(namespace, name);
    const keys = lookup.state === 'ready' ? source.keysFor(namespace, lookup.policy.spec) : {};
    const request: CheckRequest = target === undefined ? req : { headers: req.headers, pathRequest: { method: req.method ?? '', target } };
    const counted = { headers: req.headers, client: clientOf(req) };
    /** The global limit's answer, if it refuses the request (then written here). */
    const limited = async (stage: 'before' | 'after', subject?: string): Promise<boolean> => {
      if (lookup.state !== 'ready') return false;
      const limit = await checkLimit({ counter: opts.counter, metrics, onStoreUnavailable: opts.onStoreUnavailable }, lookup.policy, { ...counted, subject }, stage);
      if (!limit.answer) return false;
      res.writeHead(limit.status, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store', ...limit.headers }).end(JSON.stringify({ allow: false, reason: limit.reason, detail: limit.detail }));
      metrics.decisions.inc({ policy: `${namespace}/${name}`, result: 'deny', reason: limit.reason });
      metrics.latency.observe({ result: 'deny' }, Number(process.hrtime.bigint() - started) / 1e9);
      return true;
    };
    // ClientIP and Header limits count every request, with or without valid credentials (brute force).
    if (await limited('before')) return;
    let d: Decision;
    try {
      d = await decide(lookup, request, keys, now());
    } catch (err) {
      // decide() turns every known failure into a deny; anything else is a deny too.
      log.error({ err: err instanceof Error ? err.message : String(err), namespace, name }, 'Decision failed');
      d = { allow: false, status: 403, reason: 'InternalError', detail: 'the guard could not decide: denied (fail closed)' };
    }
    // A Subject limit counts the identity the guard just verified.
    if (d.allow && (await limited('after', d.subject))) return;
    answer(res, d);
    const policy = lookup.state === 'unknown' ? '' : `${namespace}/${name}`;
    const result = d.allow ? 'allow' : 'deny';
    metrics.decisions.inc({ policy, result, reason: d.reason });
    metrics.latency.observe({ result }, Number(process.hrtime.bigint() - started) / 1e9);
    if (d.allow) return;
    const client = clientOf(req);
    log.info({ policy: `${namespace}/${name}`, client, status: d.status, reason: d.reason, detail: d.detail, ...(d.subject ? { subject: d.subject } : {}) }, 'Denied request');
    if (d.status === 401 && lookup.state === 'ready') {
      const s = failures.fail(policy, client, now().getTime());
      if (s) {
        metrics.suspicious.inc({ policy });
        log.warn({ policy, client, failures: s.failures, windowSeconds: s.windowMs / 1000 }, 'Repeated authentication failures');
        opts.onSuspicious?.(s, lookup.policy);
      }
    }
  };

  const server = createServer((req, res) => void handle(req, res));
  server.headersTimeout = 10_000;
  server.requestTimeout = 15_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  log.info({ host: opts.host, port }, 'Guard listening');
  return {
    port,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}
