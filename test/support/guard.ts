// The apisec guard in the test process, as its own identity (the guard's ServiceAccount) with the RBAC
// the chart grants it, and an OpenID provider this project does not write (the oauth2-mock-server npm
// package) over https on 127.0.0.1 with a certificate made for the run by openssl.
import { fork, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import type { KubeClient } from '../../src/k8s/client.ts';
import { startGuard, type GuardConfig, type RunningGuard } from '../../src/guard/main.ts';
import { freePort, identities } from './controlplane.ts';
import { clientAs } from './kube.ts';
import { bindClusterRole } from './operator.ts';

/** What the guard may do (the Helm chart grants the same): read policies and Secrets, record Events. */
export const guardRules = [
  { apiGroups: ['apisec.dev'], resources: ['apisecuritypolicies'], verbs: ['get', 'list', 'watch'] },
  { apiGroups: [''], resources: ['secrets'], verbs: ['get', 'list', 'watch'] },
  { apiGroups: ['events.k8s.io'], resources: ['events'], verbs: ['create', 'patch'] },
];

export async function grantGuardRbac(admin: KubeClient): Promise<void> {
  await bindClusterRole(admin, 'apisec-test-guard', identities.guard.user, guardRules);
}

export interface TestIdp {
  /** The issuer, https://127.0.0.1:PORT. */
  url: string;
  caFile: string;
  /** A token signed by the provider's current key (or `kid`), with these claims set over its own. */
  token(claims: Record<string, unknown>, opts?: { expiresIn?: number; kid?: string }): Promise<string>;
  /** A new signing key at the provider (the old one stays in its JWKS); returns its kid. */
  rotate(): Promise<string>;
  stop(): Promise<void>;
}

/** An OpenID provider (oauth2-mock-server, its own process) on https://127.0.0.1:PORT with an RS256 key. */
export async function startIdp(): Promise<TestIdp> {
  const dir = mkdtempSync(join(tmpdir(), 'apisec-idp-'));
  const key = join(dir, 'key.pem');
  const cert = join(dir, 'cert.pem');
  const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl could not make the provider's certificate: ${r.error?.message ?? r.stderr}`);
  const port = await freePort();
  const child = fork(join(dirname(fileURLToPath(import.meta.url)), 'idp-process.ts'), [key, cert, String(port)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  let next = 1;
  const waiting = new Map<number, (m: Record<string, unknown>) => void>();
  child.on('message', (m: Record<string, unknown> & { id: number }) => waiting.get(m.id)?.(m));
  await new Promise<void>((resolve, reject) => {
    waiting.set(0, () => resolve());
    child.once('exit', (code) => reject(new Error(`the provider exited (${code}) before it was ready`)));
  });
  const ask = (msg: Record<string, unknown>): Promise<Record<string, unknown>> =>
    new Promise((resolve, reject) => {
      const id = next++;
      waiting.set(id, (m) => (waiting.delete(id), m.error ? reject(new Error(String(m.error))) : resolve(m)));
      child.send({ ...msg, id });
    });
  return {
    url: `https://127.0.0.1:${port}`,
    caFile: cert,
    token: async (claims, opts = {}) => String((await ask({ op: 'token', claims, ...opts })).token),
    rotate: async () => String((await ask({ op: 'rotate' })).kid),
    stop: async () => {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.disconnect();
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function guardConfig(over: Partial<GuardConfig> = {}): GuardConfig {
  return {
    address: { host: '127.0.0.1', port: 0 },
    metricsAddress: { host: '127.0.0.1', port: 0 },
    namespaces: [],
    logLevel: 'silent',
    cacheSyncTimeoutMs: 0,
    failureThreshold: 20,
    failureWindowMs: 60_000,
    jwksCooldownMs: 10_000,
    ...over,
  };
}

/** The guard as the guard's identity; resolves once its caches synced. */
export async function startTestGuard(over: Partial<GuardConfig> = {}, lines?: string[]): Promise<RunningGuard> {
  const log = lines ? pino({ level: 'info' }, { write: (l: string) => void lines.push(l) }) : pino({ level: 'silent' });
  const guard = await startGuard(guardConfig(over), log, clientAs('guard'));
  if (!(await guard.state.waitForSync(AbortSignal.timeout(30_000)))) throw new Error(`guard caches did not sync: ${JSON.stringify(guard.state.health())}`);
  return guard;
}
