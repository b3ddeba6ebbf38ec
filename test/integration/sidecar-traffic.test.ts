// The generated sidecar nginx.conf, loaded into a real nginx with a real upstream behind it, proven by
// real requests: allowed requests pass; 429 beyond the rate limit; 413 for an oversized body; 405 for a
// disallowed method; 415 for a refused content type; 403 from a denied address. nginx starts exactly as
// the sidecar container does (test/support/nginx.ts): non-root, read-only config, empty prefix. The
// ConfigMaps are also accepted by the real API server.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ApiSecurityPolicySpec, type ApiSecurityPolicySpecInput } from '../../src/api/v1alpha1.ts';
import type { KubeObject } from '../../src/k8s/resources.ts';
import { renderSidecarConfigMap } from '../../src/render/sidecar-nginx.ts';
import { freePort } from '../support/controlplane.ts';
import { apply, clientAs, createNamespace, eventually } from '../support/kube.ts';
import { httpRequest, nginxTest, nginxUid, startNginx, startUpstream, type RunningNginx } from '../support/nginx.ts';

const seen: Record<string, number[]> = {};
const record = (control: string, status: number): number => ((seen[control] ??= []).push(status), status);

async function sidecarFor(
  name: string,
  spec: Omit<ApiSecurityPolicySpecInput, 'targetRefs' | 'sidecar'>,
  appPort: number,
  trustedProxies: string[] = [],
  opts: { appPortInSpec?: boolean } = {},
): Promise<{ nginx: RunningNginx; port: number; cm: KubeObject }> {
  const port = await freePort();
  // The webhook sets APISEC_APP_PORT on every sidecar; the spec may leave appPort to it.
  const sidecar = opts.appPortInSpec === false ? { port } : { port, appPort };
  const parsed = ApiSecurityPolicySpec.parse({ targetRefs: [{ group: '', kind: 'Service', name }], sidecar, ...spec });
  const cm = renderSidecarConfigMap({ name, namespace: 'traffic', uid: 'uid-1' }, parsed, { trusted: trustedProxies ?? [] }) as unknown as KubeObject;
  const conf = configOf(cm);
  const t = nginxTest(conf, appPort);
  if (!t.ok) throw new Error(`nginx -t refused the generated config:\n${t.output}\n${conf}`);
  return { nginx: await startNginx(conf, port, { appPort }), port, cm };
}

const configOf = (cm: KubeObject): string => (cm as unknown as { data: Record<string, string> }).data['nginx.conf'] ?? '';

describe('sidecar nginx.conf under real traffic', () => {
  let upstream: Awaited<ReturnType<typeof startUpstream>>;
  const running: RunningNginx[] = [];
  const configMaps: KubeObject[] = [];

  beforeAll(async () => {
    upstream = await startUpstream();
  });

  afterAll(async () => {
    for (const n of running) await n.stop();
    await upstream?.close();
    console.log(`sidecar (nginx) control → status codes seen:\n${Object.entries(seen).map(([k, v]) => `  ${k}: ${[...new Set(v)].join(', ')}`).join('\n')}`);
  });

  it('starts as the container does: non-root, config read-only, nothing pre-created in the prefix', async () => {
    const s = await sidecarFor('start', { requestLimits: { maxBodySize: '1Mi' } }, upstream.port);
    running.push(s.nginx);
    const { prefix, configDir } = s.nginx.dirs;
    const uid = nginxUid() ?? process.getuid?.();
    expect(uid).not.toBe(0);

    // Everything in the prefix was made by nginx itself, as the user the pod runs it as.
    // The start script wrote the config nginx runs; nginx made the rest.
    expect(readdirSync(prefix).sort()).toEqual(['client_body_temp', 'fastcgi_temp', 'nginx.conf', 'nginx.pid', 'proxy_temp', 'scgi_temp', 'uwsgi_temp']);
    for (const entry of readdirSync(prefix)) expect(statSync(join(prefix, entry)).uid).toBe(uid);
    const master = readFileSync(join(prefix, 'nginx.pid'), 'utf8').trim();
    expect(readFileSync(`/proc/${master}/status`, 'utf8')).toMatch(new RegExp(`^Uid:\\s+${uid}\\s+${uid}\\s`, 'm'));
    expect(readdirSync(configDir).sort()).toEqual(['..data', '..v1', 'nginx.conf']);
    expect(statSync(join(configDir, '..data')).mode & 0o777).toBe(0o555);

    // A body over client_body_buffer_size goes through client_body_temp, written by a worker.
    const body = 'x'.repeat(100 * 1024);
    const r = await httpRequest({ port: s.port, method: 'POST', body, headers: { 'Content-Type': 'application/octet-stream' } });
    expect(record('allowed', r.status)).toBe(200);
    expect(JSON.parse(r.body)).toMatchObject({ bytes: body.length });
    expect(s.nginx.output().some((l) => l.includes(`buffered to a temporary file ${join(prefix, 'client_body_temp')}/`))).toBe(true);
    // No startup complaint (e.g. a compiled-in error log path it could not open).
    expect(s.nginx.output().filter((l) => /\[(emerg|alert|crit|error)\]/.test(l))).toEqual([]);
  });

  it("without spec.sidecar.appPort forwards to the port the webhook set (APISEC_APP_PORT), and refuses to start without it", async () => {
    const s = await sidecarFor('default-port', { requestLimits: { maxBodySize: '1Ki' } }, upstream.port, [], { appPortInSpec: false });
    running.push(s.nginx);
    expect(configOf(s.cm)).toContain('proxy_pass http://127.0.0.1:__APISEC_APP_PORT__;');
    expect(readFileSync(join(s.nginx.dirs.prefix, 'nginx.conf'), 'utf8')).toContain(`proxy_pass http://127.0.0.1:${upstream.port};`);
    const r = await httpRequest({ port: s.port, path: '/hello' });
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body)).toMatchObject({ url: '/hello' });
    expect(record('payload too large', (await httpRequest({ port: s.port, method: 'POST', body: 'x'.repeat(2048) })).status)).toBe(413);
    // Without the variable (a hand-wired pod that forgot it), or with anything but a number, no nginx starts.
    for (const appPort of [undefined, Number.NaN]) {
      const t = nginxTest(configOf(s.cm), appPort);
      expect(t).toMatchObject({ ok: false, output: expect.stringContaining("apisec-sidecar: APISEC_APP_PORT must be the app's port number") });
    }
  });

  it('reloads a changed ConfigMap in place: the new limits apply without a restart, a refused config keeps the old one serving', async () => {
    const s = await sidecarFor('reload', { requestLimits: { maxBodySize: '1Ki' } }, upstream.port);
    running.push(s.nginx);
    const { prefix } = s.nginx.dirs;
    const master = readFileSync(join(prefix, 'nginx.pid'), 'utf8').trim();
    const post = async (): Promise<number> => (await httpRequest({ port: s.port, method: 'POST', body: 'x'.repeat(2048) })).status;
    expect(await post()).toBe(413);

    // The kubelet's way: a new version directory, then ..data swapped atomically.
    const larger = ApiSecurityPolicySpec.parse({ targetRefs: [{ group: '', kind: 'Service', name: 'reload' }], sidecar: { port: s.port, appPort: upstream.port }, requestLimits: { maxBodySize: '4Ki' } });
    s.nginx.dirs.update(configOf(renderSidecarConfigMap({ name: 'reload', namespace: 'traffic', uid: 'uid-1' }, larger) as unknown as KubeObject));
    const started = Date.now();
    await eventually(async () => expect(await post()).toBe(200), 30_000, 250);
    console.log(`sidecar reload: new ConfigMap version served ${Date.now() - started} ms after the mount changed (checked every 5 s)`);
    expect(s.nginx.output().some((l) => l.includes('apisec-sidecar: reloaded nginx with the new config'))).toBe(true);
    // The same master: reloaded, not restarted (and still the sidecar's process).
    expect(readFileSync(join(prefix, 'nginx.pid'), 'utf8').trim()).toBe(master);
    expect(s.nginx.proc.exitCode).toBeNull();

    // A config nginx refuses (a hand edit) is logged and not loaded: the previous one keeps serving.
    s.nginx.dirs.update('events {}\nhttp { this is not nginx; }\n');
    await eventually(async () => expect(s.nginx.output()).toContainEqual(expect.stringContaining('apisec-sidecar: the new config was refused; still serving the previous one')), 30_000, 250);
    expect(await post()).toBe(200);
    expect(readFileSync(join(prefix, 'nginx.pid'), 'utf8').trim()).toBe(master);
  });

  it('passes allowed requests, and answers 413, 405, 415 and 403 for what the policy refuses', async () => {
    const s = await sidecarFor(
      'orders',
      {
        requestLimits: { maxBodySize: '1Ki', allowedMethods: ['GET', 'POST'], allowedContentTypes: ['application/json', 'application/*+json'] },
        ipAccess: { deny: ['127.0.0.2/32'] },
        rateLimit: { requestsPerSecond: 100, burst: 100 },
      },
      upstream.port,
    );
    running.push(s.nginx);
    configMaps.push(s.cm);

    const ok = await httpRequest({ port: s.port, path: '/v1/orders' });
    expect(record('allowed', ok.status)).toBe(200);
    expect(JSON.parse(ok.body)).toMatchObject({ method: 'GET', url: '/v1/orders' });
    const post = await httpRequest({ port: s.port, method: 'POST', body: '{"a":1}', headers: { 'Content-Type': 'application/json; charset=utf-8' } });
    expect(record('allowed', post.status)).toBe(200);
    expect(JSON.parse(post.body)).toMatchObject({ method: 'POST', bytes: 7 });
    const vendor = await httpRequest({ port: s.port, method: 'POST', body: '{}', headers: { 'Content-Type': 'application/problem+json' } });
    expect(record('allowed', vendor.status)).toBe(200);

    const big = await httpRequest({ port: s.port, method: 'POST', body: 'x'.repeat(4096), headers: { 'Content-Type': 'application/json' } });
    expect(record('RequestLimits.maxBodySize', big.status)).toBe(413);
    const exact = await httpRequest({ port: s.port, method: 'POST', body: 'x'.repeat(1024), headers: { 'Content-Type': 'application/json' } });
    expect(exact.status).toBe(200);

    const del = await httpRequest({ port: s.port, method: 'DELETE' });
    expect(record('RequestLimits.allowedMethods', del.status)).toBe(405);
    const put = await httpRequest({ port: s.port, method: 'PUT', body: '{}' });
    expect(put.status).toBe(405);

    const xml = await httpRequest({ port: s.port, method: 'POST', body: '<a/>', headers: { 'Content-Type': 'application/xml' } });
    expect(record('RequestLimits.allowedContentTypes', xml.status)).toBe(415);

    const denied = await httpRequest({ port: s.port, localAddress: '127.0.0.2' });
    expect(record('IPAccess.deny', denied.status)).toBe(403);
    const other = await httpRequest({ port: s.port, localAddress: '127.0.0.3' });
    expect(other.status).toBe(200);

    // JSON access log on stdout, one object per request.
    const log = s.nginx.accessLog().map((l) => JSON.parse(l) as { status: number; method: string });
    expect(log.some((e) => e.status === 413)).toBe(true);
    expect(log.some((e) => e.status === 405 && e.method === 'DELETE')).toBe(true);
  });

  it('admits only the allow-list', async () => {
    const s = await sidecarFor('internal', { ipAccess: { allow: ['127.0.0.5/32', '10.0.0.0/8'] } }, upstream.port);
    running.push(s.nginx);
    configMaps.push(s.cm);
    expect(record('IPAccess.allow', (await httpRequest({ port: s.port, localAddress: '127.0.0.1' })).status)).toBe(403);
    expect(record('IPAccess.allow', (await httpRequest({ port: s.port, localAddress: '127.0.0.5' })).status)).toBe(200);
  });

  it('behind trusted proxies the allow-list sees the forwarded client; without the setting, the previous hop', async () => {
    const spec = { ipAccess: { allow: ['203.0.113.7/32'] } };
    const trusted = await sidecarFor('trusted', spec, upstream.port, ['127.0.0.0/8']);
    const plain = await sidecarFor('untrusted', spec, upstream.port);
    running.push(trusted.nginx, plain.nginx);
    const via = (port: number, xff?: string): Promise<number> =>
      httpRequest({ port, localAddress: '127.0.0.1', ...(xff ? { headers: { 'X-Forwarded-For': xff } } : {}) }).then((r) => r.status);
    // The ingress controller (127.0.0.1, trusted) forwards for the allowed client, and for another one.
    expect(record('IPAccess.trustedProxy', await via(trusted.port, '203.0.113.7'))).toBe(200);
    expect(record('IPAccess.trustedProxy', await via(trusted.port, '198.51.100.1'))).toBe(403);
    // A client cannot claim the allowed address: the first untrusted entry from the right decides.
    expect(await via(trusted.port, '203.0.113.7, 198.51.100.1')).toBe(403);
    expect(await via(trusted.port)).toBe(403);
    // Without the setting the sidecar sees the previous hop (127.0.0.1), whatever the header says.
    expect(record('IPAccess.previousHop', await via(plain.port, '203.0.113.7'))).toBe(403);
  });

  it('answers 429 beyond the rate limit and burst, per client address', async () => {
    const s = await sidecarFor('public', { rateLimit: { requestsPerSecond: 2, burst: 5 } }, upstream.port);
    running.push(s.nginx);
    configMaps.push(s.cm);
    const statuses: number[] = [];
    for (let i = 0; i < 20; i++) statuses.push(record('RateLimit', (await httpRequest({ port: s.port })).status));
    const passed = statuses.filter((x) => x === 200).length;
    // 1 + burst pass at once (plus at most a couple refilled while the loop runs), the rest get 429.
    expect(passed).toBeGreaterThanOrEqual(6);
    expect(passed).toBeLessThanOrEqual(9);
    expect(statuses.filter((x) => x === 429).length).toBe(20 - passed);
    // Another client address has its own bucket.
    expect((await httpRequest({ port: s.port, localAddress: '127.0.0.9' })).status).toBe(200);
  });

  it('keys the limit by a header when asked, and limits requests without it by address', async () => {
    const s = await sidecarFor('keyed', { rateLimit: { requestsPerMinute: 60, burst: 2, key: 'Header', header: 'X-Client-Id' } }, upstream.port);
    running.push(s.nginx);
    configMaps.push(s.cm);
    const burst = async (headers: Record<string, string>): Promise<number[]> => {
      const out: number[] = [];
      for (let i = 0; i < 6; i++) out.push((await httpRequest({ port: s.port, headers })).status);
      return out;
    };
    const a = await burst({ 'X-Client-Id': 'alice' });
    const b = await burst({ 'X-Client-Id': 'bob' });
    const none = await burst({});
    for (const run of [a, b, none]) {
      expect(run.slice(0, 3)).toEqual([200, 200, 200]);
      expect(run.slice(3).every((x) => record('RateLimit.header', x) === 429)).toBe(true);
    }
  });

  it('has ConfigMaps the real API server accepts', async () => {
    const admin = clientAs('admin');
    const ns = await createNamespace(admin, 'sidecar');
    for (const cm of configMaps) {
      const stored = await apply<KubeObject & { data: Record<string, string> }>(admin, { ...cm, metadata: { ...cm.metadata, namespace: ns, ownerReferences: undefined } as KubeObject['metadata'] });
      expect(stored.data['nginx.conf']).toContain('proxy_pass http://127.0.0.1:');
    }
  });
});
