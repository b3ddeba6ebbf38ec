import { request } from 'node:https';
import { pino } from 'pino';
import { selfSignedCertificate } from '../observability/self-signed.ts';
import type { ServingTls } from '../observability/tls.ts';
import type { ReviewContext, ReviewOutcome } from './review.ts';
import { startWebhookServer, type WebhookServer } from './server.ts';

describe('startWebhookServer', () => {
  const pair = selfSignedCertificate(['127.0.0.1']);
  const tls: ServingTls = { source: 'test', current: () => pair, watch: () => () => undefined };
  const context: ReviewContext = {
    operatorNamespace: 'apisec-system',
    image: 'nginx:1.27-alpine',
    namespace: () => ({ namespaceLabels: {}, policies: [], lookup: { ingress: () => undefined, service: () => undefined } }),
  };
  const outcomes: ReviewOutcome[] = [];
  let synced = false;
  let server: WebhookServer;

  beforeAll(async () => {
    server = await startWebhookServer({ host: '127.0.0.1', port: 0, tls, context, ready: () => synced, log: pino({ level: 'silent' }), onOutcome: (o) => outcomes.push(o) });
  });

  afterAll(async () => {
    await server.close();
    await server.close(); // safe twice
  });

  /** One request over HTTPS, trusting only the test certificate (as the API server trusts its caBundle). */
  const call = (path: string, body: string | Buffer, method = 'POST'): Promise<{ status: number; body: string; type: string }> =>
    new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: server.port, path, method, ca: pair.cert, headers: { 'Content-Type': 'application/json' } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), type: String(res.headers['content-type']) }));
      });
      req.on('error', reject);
      req.end(body);
    });
  const review = (uid: string): string => JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid, kind: { group: '', version: 'v1', kind: 'Pod' }, operation: 'CREATE', namespace: 'shop', object: { metadata: { name: 'p' }, spec: { containers: [{ name: 'app' }] } } } });

  it('before the caches have synced: admits, with a warning, and patches nothing', async () => {
    synced = false;
    const res = await call('/mutate-pods', review('u-0'));
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toEqual({
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      response: { uid: 'u-0', allowed: true, warnings: [expect.stringContaining('has not synced its caches yet')], auditAnnotations: { 'sidecar-refused': 'caches not synced' } },
    });
    expect(outcomes.at(-1)).toMatchObject({ result: 'not-ready' });
  });

  it('then answers each review from the context', async () => {
    synced = true;
    const res = await call('/mutate-pods', review('u-1'));
    expect([res.status, res.type]).toEqual([200, 'application/json']);
    expect(JSON.parse(res.body)).toEqual({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: 'u-1', allowed: true } });
    expect(outcomes.at(-1)).toMatchObject({ result: 'skipped', namespace: 'shop', pod: 'p' });
  });

  it('refuses what is not a review, another path or method, and a body too large', async () => {
    expect((await call('/mutate-pods', '{not json')).status).toBe(400);
    expect((await call('/mutate-pods', JSON.stringify({ kind: 'AdmissionReview' }))).status).toBe(400);
    expect((await call('/other', review('u-2'))).status).toBe(404);
    expect((await call('/mutate-pods', '', 'GET')).status).toBe(405);
    expect((await call('/mutate-pods', Buffer.alloc(9 * 1024 * 1024, 0x20))).status).toBe(413);
  });
});
