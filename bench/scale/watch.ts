// What the benchmark sees through watches of its own (as the admin, never through the operator): when each
// policy became Enforced at its current generation (the convergence curve), and when an update's
// artifacts (the Ingress annotation) and status became visible (the latency phase).
import { pino } from 'pino';
import type { KubeClient } from '../../src/k8s/client.ts';
import { Informer } from '../../src/k8s/informer.ts';
import { Resources, keyOf, type KubeObject } from '../../src/k8s/resources.ts';

type Policy = KubeObject & { status?: { observedGeneration?: number; conditions?: { type: string; status: string }[] } };

export const convergedAt = (p: Policy, generation = p.metadata.generation): boolean =>
  (p.status?.observedGeneration ?? -1) >= (generation ?? 0) && !!p.status?.conditions?.some((c) => c.type === 'Enforced' && c.status === 'True');

const RPS = 'nginx.ingress.kubernetes.io/limit-rps';

/** One update of the latency phase: sent, answered (with its generation), and when each part was seen. */
export interface Pending {
  policy: string;
  ingress: string;
  rps: string;
  generation?: number;
  answeredAt?: number;
  artifactAt?: number;
  statusAt?: number;
}

export class Watches {
  readonly policies: Informer<Policy>;
  readonly ingresses: Informer;
  private readonly inScope: (o: KubeObject) => boolean;
  /** Policy key → ms (performance.now) it was first seen converged since the last reset. */
  private converged = new Map<string, number>();
  private target = 0;
  private onAll: (() => void) | undefined;
  private readonly updates = new Map<string, Pending>();

  constructor(admin: KubeClient, prefix: string) {
    const log = pino({ level: 'silent' });
    this.inScope = (o) => (o.metadata.namespace ?? '').startsWith(`${prefix}-`);
    this.policies = new Informer<Policy>(admin, Resources.policy, log);
    this.ingresses = new Informer(admin, Resources.ingress, log);
    this.policies.on((p, kind) => this.onPolicy(p, kind));
    this.ingresses.on((o) => this.onIngress(o));
  }

  async start(): Promise<void> {
    this.policies.start();
    this.ingresses.start();
    await Promise.all([this.policies.waitForSync(), this.ingresses.waitForSync()]);
  }

  async stop(): Promise<void> {
    await Promise.all([this.policies.stop(), this.ingresses.stop()]);
  }

  /** Resolves once `n` policies are converged (counting from now), with each one's time. */
  allConverged(n: number): { done: Promise<void>; times: () => number[] } {
    this.converged = new Map();
    this.target = n;
    for (const p of this.policies.list()) if (this.inScope(p) && convergedAt(p)) this.converged.set(keyOf(p), performance.now());
    const done = new Promise<void>((resolve) => {
      this.onAll = resolve;
      if (this.converged.size >= n) resolve();
    });
    return { done, times: () => [...this.converged.values()] };
  }

  get convergedCount(): number {
    return this.converged.size;
  }

  /** Registers an update before it is sent (its events can arrive before its response). */
  expect(u: Pending): void {
    this.updates.set(u.policy, u);
  }

  private onPolicy(p: Policy, kind: 'upsert' | 'delete'): void {
    if (!this.inScope(p)) return;
    const key = keyOf(p);
    if (kind === 'upsert' && convergedAt(p) && !this.converged.has(key)) {
      this.converged.set(key, performance.now());
      if (this.converged.size >= this.target) this.onAll?.();
    }
    const u = this.updates.get(key);
    if (u && u.generation !== undefined && u.statusAt === undefined && convergedAt(p, u.generation)) u.statusAt = performance.now();
  }

  private onIngress(o: KubeObject): void {
    if (!this.inScope(o)) return;
    const marker = o.metadata.annotations?.['apisec.dev/policy'];
    const u = marker ? this.updates.get(`${o.metadata.namespace}/${marker}`) : undefined;
    if (u && u.artifactAt === undefined && u.ingress === keyOf(o) && o.metadata.annotations?.[RPS] === u.rps) u.artifactAt = performance.now();
  }
}
