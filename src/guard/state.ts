// What the guard knows: the ApiSecurityPolicies and the API-key Secrets, each from an informer
// (src/k8s/informer.ts). Both caches keep only what a decision needs: a policy's parsed spec, and a
// Secret's key digests (src/guard/apikeys.ts), never a key. Only Secrets labelled
// apisec.dev/api-keys=true are listed, so the cache is bounded by what owners chose to share.
import type { Logger } from 'pino';
import { parseSpec, type ApiSecurityPolicySpec } from '../api/v1alpha1.ts';
import type { KubeClient } from '../k8s/client.ts';
import { Informer, type InformerHealth } from '../k8s/informer.ts';
import { Resources, type KubeObject } from '../k8s/resources.ts';
import { keySetFromData, LABEL_API_KEYS, type ApiKeySet } from './apikeys.ts';
import type { Keys, PolicyLookup } from './decide.ts';
import type { JwksCache } from './jwks.ts';
import { TokenCache } from './token-cache.ts';

type Meta = Pick<KubeObject['metadata'], 'name' | 'namespace' | 'uid' | 'generation' | 'resourceVersion'>;
export interface CachedPolicy extends KubeObject {
  metadata: Meta & { name: string };
  parsed: { ok: true; spec: ApiSecurityPolicySpec } | { ok: false; message: string };
}
export interface CachedKeys extends KubeObject {
  metadata: Meta & { name: string };
  keys: ApiKeySet;
}

const meta = (o: KubeObject): Meta & { name: string } => ({
  name: o.metadata.name,
  ...(o.metadata.namespace ? { namespace: o.metadata.namespace } : {}),
  ...(o.metadata.uid ? { uid: o.metadata.uid } : {}),
  ...(o.metadata.generation !== undefined ? { generation: o.metadata.generation } : {}),
  ...(o.metadata.resourceVersion ? { resourceVersion: o.metadata.resourceVersion } : {}),
});

export const policyTransform = (o: KubeObject): CachedPolicy => ({ metadata: meta(o), parsed: parseSpec(o.spec) });
export const secretTransform = (o: KubeObject): CachedKeys => ({ metadata: meta(o), keys: keySetFromData(o.data) });

export class GuardState {
  private readonly policies: Informer<CachedPolicy>[];
  private readonly secrets: Informer<CachedKeys>[];
  private readonly namespaces?: ReadonlySet<string>;
  private readonly jwks: JwksCache;
  private readonly verified = new TokenCache();

  constructor(client: KubeClient, log: Logger, jwks: JwksCache, namespaces?: readonly string[]) {
    this.jwks = jwks;
    if (namespaces?.length) this.namespaces = new Set(namespaces);
    const scopes: (string | undefined)[] = namespaces?.length ? [...namespaces] : [undefined];
    this.policies = scopes.map((ns) => new Informer<CachedPolicy>(client, Resources.policy, log, { ...(ns ? { namespace: ns } : {}), transform: policyTransform }));
    this.secrets = scopes.map(
      (ns) => new Informer<CachedKeys>(client, Resources.secret, log, { ...(ns ? { namespace: ns } : {}), labelSelector: `${LABEL_API_KEYS}=true`, transform: secretTransform }),
    );
  }

  start(): void {
    for (const i of [...this.policies, ...this.secrets]) i.start();
  }

  async stop(): Promise<void> {
    await Promise.all([...this.policies, ...this.secrets].map((i) => i.stop()));
  }

  async waitForSync(signal?: AbortSignal): Promise<boolean> {
    const all = await Promise.all([...this.policies, ...this.secrets].map((i) => i.waitForSync(signal)));
    return all.every(Boolean);
  }

  get synced(): boolean {
    return [...this.policies, ...this.secrets].every((i) => i.hasSynced);
  }

  health(): InformerHealth[] {
    return [...this.policies, ...this.secrets].map((i) => i.health());
  }

  private informerFor<T extends KubeObject>(list: Informer<T>[], namespace: string): Informer<T> | undefined {
    if (!this.namespaces) return list[0];
    return this.namespaces.has(namespace) ? list[[...this.namespaces].indexOf(namespace)] : undefined;
  }

  lookup(namespace: string, name: string): PolicyLookup {
    const inf = this.informerFor(this.policies, namespace);
    if (!inf) return { state: 'unknown' };
    if (!inf.hasSynced) return { state: 'notSynced' };
    const p = inf.get(`${namespace}/${name}`);
    if (!p) return { state: 'unknown' };
    if (!p.parsed.ok) return { state: 'invalid', message: p.parsed.message };
    return { state: 'ready', policy: { namespace, name, spec: p.parsed.spec } };
  }

  /** The keys a policy's credentials are checked with: a JWKS resolver, or a Secret's digests. */
  keysFor(namespace: string, spec: ApiSecurityPolicySpec): Keys {
    const a = spec.authentication;
    if (a?.jwt) return { jwt: this.jwks.resolver({ jwksURI: a.jwt.jwksURI }), jwtSource: a.jwt.jwksURI, verified: this.verified };
    if (a?.oidc) return { jwt: this.jwks.resolver({ issuer: a.oidc.issuerURL }), jwtSource: a.oidc.issuerURL, verified: this.verified };
    const ref = a?.apiKey?.secretRef?.name;
    if (ref === undefined) return {};
    const s = this.informerFor(this.secrets, namespace)?.get(`${namespace}/${ref}`);
    return s ? { apiKeys: s.keys } : {};
  }
}
