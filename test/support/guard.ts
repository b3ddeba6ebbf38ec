// The apisec guard in the test process, as its own identity (the guard's ServiceAccount) with the RBAC
// the chart grants it, and an OpenID provider this project does not write (the oauth2-mock-server npm
// package) over https on 127.0.0.1 with a certificate made for the run by openssl.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OAuth2Server } from 'oauth2-mock-server';
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
  server: OAuth2Server;
  /** The issuer, https://127.0.0.1:PORT. */
  url: string;
  caFile: string;
  stop(): Promise<void>;
}

/** An OpenID provider on https://127.0.0.1:PORT with one RS256 signing key. */
export async function startIdp(): Promise<TestIdp> {
  const dir = mkdtempSync(join(tmpdir(), 'apisec-idp-'));
  const key = join(dir, 'key.pem');
  const cert = join(dir, 'cert.pem');
  const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl could not make the provider's certificate: ${r.error?.message ?? r.stderr}`);
  const server = new OAuth2Server(key, cert);
  await server.issuer.keys.generate('RS256');
  const port = await freePort();
  const url = `https://127.0.0.1:${port}`;
  server.issuer.url = url;
  await server.start(port, '127.0.0.1');
  return {
    server,
    url,
    caFile: cert,
    stop: async () => {
      await server.stop();
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
