// The HTTPS shell of the sidecar injection webhook: POST /mutate-pods with an AdmissionReview, answered
// by review.ts from the informer caches. Served on every replica (the webhook Service picks any), with
// the certificate of --webhook-cert-dir re-read when it changes (observability/tls.ts). Until the
// caches have synced, every pod is admitted without the sidecar and a warning says so: the webhook never
// blocks a pod, as failurePolicy Ignore never does when the webhook cannot be reached.
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { listenOn } from '../observability/server.ts';
import type { ServingTls } from '../observability/tls.ts';
import { ADMISSION_API_VERSION, BadReview, MUTATE_PATH, admissionRequest, review, type ReviewContext, type ReviewOutcome } from './review.ts';

/** An AdmissionReview carries the pod twice at most; the API server's own request limit is 3 MiB. */
const MAX_BODY = 8 * 1024 * 1024;

export interface WebhookServerOptions {
  host?: string;
  port: number;
  tls: ServingTls;
  context: ReviewContext;
  /** False until the caches have synced. */
  ready: () => boolean;
  log: Logger;
  onOutcome?: (outcome: ReviewOutcome) => void;
}

export interface WebhookServer {
  port: number;
  close(): Promise<void>;
}

class TooLarge extends Error {}

/** The body; past MAX_BODY the rest is read and dropped, so the 413 reaches the caller before the socket closes. */
function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY) chunks.push(chunk);
      else chunks.length = 0;
    });
    req.on('end', () => (size > MAX_BODY ? reject(new TooLarge(`request body above ${MAX_BODY} bytes`)) : resolve(Buffer.concat(chunks).toString('utf8'))));
    req.on('error', reject);
  });
}

function notReady(uid: string): unknown {
  const warning = 'apisec: the operator has not synced its caches yet: admitted without the sidecar';
  return { apiVersion: ADMISSION_API_VERSION, kind: 'AdmissionReview', response: { uid, allowed: true, warnings: [warning], auditAnnotations: { 'sidecar-refused': 'caches not synced' } } };
}

async function handle(req: IncomingMessage, res: ServerResponse, opts: WebhookServerOptions): Promise<void> {
  const send = (status: number, body: unknown): void => {
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    res.writeHead(status, { 'Content-Type': typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/json' }).end(text);
  };
  const path = new URL(req.url ?? '/', 'https://localhost').pathname;
  if (path !== MUTATE_PATH) return send(404, 'not found\n');
  if (req.method !== 'POST') {
    res.setHeader('Allow', 'POST');
    return send(405, 'method not allowed\n');
  }
  try {
    const request = admissionRequest(JSON.parse(await readBody(req)) as unknown);
    if (!opts.ready()) {
      opts.onOutcome?.({ namespace: request.namespace ?? '', pod: '', result: 'not-ready' });
      return send(200, notReady(request.uid));
    }
    const { out, outcome } = review(request, opts.context);
    opts.onOutcome?.(outcome);
    send(200, out);
  } catch (err) {
    if (err instanceof TooLarge) return send(413, `${err.message}\n`);
    if (err instanceof BadReview || err instanceof SyntaxError) return send(400, `${err.message}\n`);
    opts.log.error({ err: err instanceof Error ? err.message : String(err) }, 'Sidecar injection failed');
    send(500, 'internal error\n');
  }
}

export async function startWebhookServer(opts: WebhookServerOptions): Promise<WebhookServer> {
  const { tls, log } = opts;
  const host = opts.host ?? '0.0.0.0';
  const server: Server = createServer({ ...tls.current(), minVersion: 'TLSv1.2' }, (req, res) => void handle(req, res, opts));
  server.requestTimeout = 30_000;
  server.headersTimeout = 10_000;
  const port = await listenOn(server, opts.port, host);
  server.on('error', (err) => log.error({ err }, 'Webhook server failed'));
  const stopWatching = tls.watch((pair) => server.setSecureContext({ ...pair, minVersion: 'TLSv1.2' }));
  log.info({ host, port, path: MUTATE_PATH, tls: tls.source }, 'Started sidecar injection webhook');
  let closing: Promise<void> | undefined;
  return {
    port,
    close: (): Promise<void> => {
      stopWatching();
      closing ??= new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }).then(() => log.info({ port }, 'Stopped sidecar injection webhook'));
      return closing;
    },
  };
}
