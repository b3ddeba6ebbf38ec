// An HTTPS proxy on 127.0.0.1 in front of the API server for the fault suite: it forwards every request
// (watches streamed as they come) and answers a share of the writes itself with 429 and a Retry-After,
// or with 500/503, as an overloaded or failing API server does. The choice is a seeded sequence, so a
// run is reproducible. It can also hold watches: end every open watch stream cleanly (as an API server
// does when a watch times out) and keep the watches that follow waiting until released, so they resume
// from a resourceVersion that may be compacted away meanwhile. Its certificate is self-signed; the
// operator's kubeconfig trusts it.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { createServer, type Server } from 'node:https';
import { selfSignedCertificate } from '../../src/observability/self-signed.ts';

export interface FaultShares {
  /** Share of writes answered 429 with Retry-After: retryAfterSeconds. */
  throttled: number;
  /** Share of writes answered 500 or 503. */
  failed: number;
  retryAfterSeconds: number;
}

export interface FaultProxy {
  port: number;
  /** PEM of the proxy's certificate (the CA for the kubeconfig). */
  ca: string;
  faults: FaultShares;
  /** Per "METHOD path": when each request came and what the proxy answered (0: forwarded). */
  seen: Map<string, { at: number; injected: number }[]>;
  /** Ends the open watch streams cleanly and holds new watch requests until releaseWatches(). Returns how many it ended. */
  holdWatches(): number;
  /** Watch requests waiting. */
  heldWatches(): number;
  /** Forwards the held watch requests (as they were sent: from their resourceVersion). */
  releaseWatches(): void;
  close(): Promise<void>;
}

const WRITES = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** A small deterministic generator (mulberry32), so a run's faults are the same every time. */
function sequence(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export async function startFaultProxy(target: { port: number; caFile: string }, faults: FaultShares, seed = 7): Promise<FaultProxy> {
  const { cert, key } = selfSignedCertificate(['127.0.0.1']);
  const upstreamCa = readFileSync(target.caFile);
  const next = sequence(seed);
  const seen: FaultProxy['seen'] = new Map();
  const open = new Map<ServerResponse, IncomingMessage | undefined>();
  const held: (() => void)[] = [];
  let holding = false;
  const proxy: FaultProxy = {
    port: 0,
    ca: cert,
    faults,
    seen,
    holdWatches: () => {
      holding = true;
      const ended = open.size;
      for (const [res, upRes] of open) {
        upRes?.unpipe(res);
        res.end();
      }
      open.clear();
      return ended;
    },
    heldWatches: () => held.length,
    releaseWatches: () => {
      holding = false;
      for (const forward of held.splice(0)) forward();
    },
    close: async () => undefined,
  };
  const forward = (req: IncomingMessage, res: ServerResponse, watch: boolean): void => {
    const up = httpsRequest({ host: '127.0.0.1', port: target.port, method: req.method, path: req.url, headers: req.headers, ca: upstreamCa }, (upRes) => {
      if (res.writableEnded) return void upRes.destroy(); // a watch ended by holdWatches() before its answer came
      res.writeHead(upRes.statusCode ?? 502, upRes.headers);
      if (watch && open.has(res)) open.set(res, upRes);
      upRes.pipe(res);
    });
    up.on('error', () => res.destroy());
    res.on('close', () => {
      open.delete(res);
      up.destroy();
    });
    req.pipe(up);
  };
  const server: Server = createServer({ cert, key }, (req, res) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const what = `${req.method ?? 'GET'} ${path}`;
    let injected = 0;
    if (WRITES.has(req.method ?? '')) {
      const r = next();
      if (r < proxy.faults.throttled) injected = 429;
      else if (r < proxy.faults.throttled + proxy.faults.failed) injected = r < proxy.faults.throttled + proxy.faults.failed / 2 ? 500 : 503;
    }
    seen.set(what, [...(seen.get(what) ?? []), { at: Date.now(), injected }]);
    if (injected) {
      req.resume();
      const headers: Record<string, string> = { 'Content-Type': 'application/json' };
      if (injected === 429) headers['Retry-After'] = String(proxy.faults.retryAfterSeconds);
      res.writeHead(injected, headers);
      res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', message: 'injected by the fault proxy', reason: injected === 429 ? 'TooManyRequests' : 'InternalError', code: injected }));
      return;
    }
    const watch = /[?&]watch=(1|true)(&|$)/.test(req.url ?? '');
    if (!watch) return forward(req, res, false);
    const start = (): void => {
      open.set(res, undefined);
      forward(req, res, true);
    };
    if (holding) held.push(start);
    else start();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  proxy.port = typeof addr === 'object' && addr ? addr.port : 0;
  proxy.close = () =>
    new Promise((r) => {
      server.closeAllConnections();
      server.close(() => r());
    });
  return proxy;
}
