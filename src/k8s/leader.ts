// Leader election on a coordination.k8s.io/v1 Lease, with client-go's semantics: the holder renews every
// retryPeriod and gives up leadership if it cannot renew within renewDeadline (well before others may
// take over after leaseDuration); a candidate takes an expired or released lease. Every write is a PUT
// carrying the resourceVersion just read, so of two concurrent writers exactly one wins (the other gets
// a 409). Leases are compared by the holder's renewTime, so clocks must be roughly in sync (NTP).
import type { Logger } from 'pino';
import type { KubeClient } from './client.ts';
import { ApiError, isNotFound, isTransient } from './errors.ts';
import { Resources, apiVersionOf, collectionPath, objectPath, toMicroTime, type KubeObject } from './resources.ts';
import { linked } from '../util/abort.ts';
import { sleep } from '../util/sleep.ts';

export interface LeaderElectionOptions {
  namespace: string;
  name: string;
  identity: string;
  /** How long others wait after the last renewal before taking over (default 15 s). */
  leaseDurationMs?: number;
  /** How long the holder keeps retrying a failed renewal before it gives up (default 10 s). */
  renewDeadlineMs?: number;
  /** Pause between attempts, both to acquire and to renew (default 2 s). */
  retryPeriodMs?: number;
  log: Logger;
  /** Clock for the lease's timestamps and expiry (tests). */
  now?: () => Date;
}

interface LeaseSpec {
  holderIdentity?: string | null;
  leaseDurationSeconds?: number | null;
  acquireTime?: string | null;
  renewTime?: string | null;
  leaseTransitions?: number | null;
}

interface Lease extends KubeObject {
  spec?: LeaseSpec;
}

/**
 * An API error on the Lease, with what was asked (verb, namespace, name), so a caller can say which
 * permission or which namespace is missing. Same status as the cause, so the error taxonomy still applies.
 */
export class LeaseError extends ApiError {
  readonly verb: 'get' | 'create' | 'update';
  readonly namespace: string;
  readonly leaseName: string;

  constructor(verb: 'get' | 'create' | 'update', namespace: string, leaseName: string, cause: ApiError) {
    super(cause.message, cause.status, cause.reason, cause.retryAfterSeconds);
    this.name = 'LeaseError';
    this.verb = verb;
    this.namespace = namespace;
    this.leaseName = leaseName;
  }
}

/** What one attempt found: we hold the lease, another identity does, or another writer won the race. */
type Outcome = 'held' | 'other' | 'conflict';

// As client-go: acquisition retries wait between 1 and 1 + JITTER retry periods, so candidates spread out.
const JITTER = 1.2;


/** Whether a lease's holder has let it lapse (no renewal for leaseDurationSeconds). */
export function isLeaseExpired(spec: LeaseSpec, now: Date): boolean {
  const renewed = spec.renewTime ? Date.parse(spec.renewTime) : NaN;
  const duration = spec.leaseDurationSeconds ?? 0;
  if (Number.isNaN(renewed) || duration <= 0) return true;
  return renewed + duration * 1000 < now.getTime();
}

export class LeaderElector {
  private readonly client: KubeClient;
  private readonly namespace: string;
  private readonly name: string;
  private readonly identity: string;
  private readonly leaseDurationMs: number;
  private readonly renewDeadlineMs: number;
  private readonly retryPeriodMs: number;
  private readonly log: Logger;
  private readonly now: () => Date;
  private readonly lease: string;

  // Aborted by stop()/release(): ends every loop, sleep and request in flight.
  private readonly abort = new AbortController();
  private readonly loops = new Set<Promise<unknown>>();
  private leader = false;
  /** The last acquisition attempt succeeded in reading a live lease of another identity. */
  private following = false;
  private renewing = false;
  private stopping?: Promise<void>;
  private releasing?: Promise<void>;
  /** The lease as last read or written: release() writes only over our own record. */
  private observed?: Lease;
  private lastHolder?: string;

  constructor(client: KubeClient, opts: LeaderElectionOptions) {
    this.client = client;
    this.namespace = opts.namespace;
    this.name = opts.name;
    this.identity = opts.identity;
    this.leaseDurationMs = opts.leaseDurationMs ?? 15_000;
    this.renewDeadlineMs = opts.renewDeadlineMs ?? 10_000;
    this.retryPeriodMs = opts.retryPeriodMs ?? 2_000;
    this.log = opts.log;
    this.now = opts.now ?? ((): Date => new Date());
    this.lease = `${opts.namespace}/${opts.name}`;
    if (!opts.identity) throw new Error('leader election needs a non-empty identity');
    // The same invariants as client-go: a holder must give up before anyone else may take over.
    if (this.leaseDurationMs <= this.renewDeadlineMs) throw new Error('leaseDurationMs must be greater than renewDeadlineMs');
    if (this.renewDeadlineMs <= JITTER * this.retryPeriodMs) throw new Error(`renewDeadlineMs must be greater than ${JITTER} × retryPeriodMs`);
    if (this.retryPeriodMs <= 0) throw new Error('retryPeriodMs must be positive');
  }

  get isLeader(): boolean {
    return this.leader;
  }

  /**
   * A healthy standby: still acquiring, and the last attempt read the lease and found it held by another
   * live identity. False before the first attempt and after a failed one (the API said nothing yet).
   */
  get isStandby(): boolean {
    return this.following && !this.leader;
  }

  /**
   * Resolves true when this process holds the lease, false if signal or stop()/release() ended the wait
   * first. Transient API errors are retried; any other (RBAC, a missing namespace) rejects with a
   * LeaseError: retrying cannot fix it, and the caller must not look healthy while it waits.
   */
  acquire(signal?: AbortSignal): Promise<boolean> {
    return this.track(this.acquireLoop(signal));
  }

  /** Keeps renewing after acquire(); calls onLost once if the lease could not be renewed within renewDeadline or was taken by another identity. */
  keepRenewing(onLost: () => void): void {
    if (!this.leader) throw new Error('keepRenewing() needs the lease: call acquire() first');
    if (this.renewing) throw new Error('keepRenewing() is already running');
    this.renewing = true;
    void this.track(this.renewLoop(onLost).finally(() => (this.renewing = false)));
  }

  /** Stops acquiring and renewing without giving up the lease (it lapses after leaseDuration), like a crash. */
  stop(): Promise<void> {
    this.stopping ??= (async (): Promise<void> => {
      this.leader = false;
      this.abort.abort();
      await Promise.allSettled([...this.loops]);
    })();
    return this.stopping;
  }

  /** Stops renewing and releases the lease (holderIdentity cleared, leaseDurationSeconds 1, like client-go's ReleaseOnCancel) if we hold it. Safe to call twice. */
  release(): Promise<void> {
    this.releasing ??= this.stop().then(() => this.giveUp());
    return this.releasing;
  }

  private track<T>(p: Promise<T>): Promise<T> {
    this.loops.add(p);
    const untrack = (): void => void this.loops.delete(p);
    p.then(untrack, untrack);
    return p;
  }

  private async acquireLoop(signal?: AbortSignal): Promise<boolean> {
    if (this.leader) return true;
    const stop = linked([this.abort.signal, signal]);
    try {
      while (!stop.signal.aborted) {
        try {
          const outcome = await this.attempt(stop.signal, this.renewDeadlineMs);
          if (outcome !== 'conflict') this.following = outcome === 'other';
          // Stopped while the write was in flight: release() will give the lease back.
          if (outcome === 'held' && !this.abort.signal.aborted) {
            this.leader = true;
            const spec = this.observed?.spec ?? {};
            this.log.info({ lease: this.lease, identity: this.identity, transitions: spec.leaseTransitions ?? 0 }, 'Acquired leader lease');
            return true;
          }
          if (outcome === 'conflict') this.log.debug({ lease: this.lease }, 'Lost a lease write race, retrying');
        } catch (err) {
          this.following = false;
          if (stop.signal.aborted) break;
          if (!isTransient(err)) throw err;
          this.log.warn({ lease: this.lease, err: message(err) }, 'Failed to acquire leader lease, retrying');
        }
        await sleep(this.retryPeriodMs * (1 + Math.random() * JITTER), stop.signal);
      }
      return false;
    } finally {
      stop.dispose();
    }
  }

  private async renewLoop(onLost: () => void): Promise<void> {
    const stopped = this.abort.signal;
    while (!stopped.aborted) {
      await sleep(this.retryPeriodMs, stopped);
      if (stopped.aborted) return;
      const reason = await this.renewWithinDeadline();
      // stop()/release() during a renewal is not a loss: the caller is shutting down.
      if (stopped.aborted) return;
      if (reason) {
        this.leader = false;
        this.log.warn({ lease: this.lease, identity: this.identity, reason }, 'Lost leader lease');
        try {
          onLost();
        } catch (err) {
          this.log.error({ err }, 'Leader lost callback failed');
        }
        return;
      }
    }
  }

  /** One renewal round: retries until renewed or renewDeadline passes. Returns why it failed, if it did. */
  private async renewWithinDeadline(): Promise<string | undefined> {
    const round = linked([this.abort.signal], this.renewDeadlineMs);
    try {
      while (!round.signal.aborted) {
        try {
          const outcome = await this.attempt(round.signal);
          if (outcome === 'held') return undefined;
          if (outcome === 'other') return `taken by ${this.lastHolder ?? 'another identity'}`;
        } catch (err) {
          if (round.signal.aborted) break;
          this.log.warn({ lease: this.lease, err: message(err) }, 'Failed to renew leader lease, retrying');
        }
        await sleep(this.retryPeriodMs, round.signal);
      }
      return `not renewed within ${this.renewDeadlineMs} ms`;
    } finally {
      round.dispose();
    }
  }

  /** Reads the lease and, if it is ours, free or expired, writes ourselves in as holder. */
  private async attempt(parent: AbortSignal, timeoutMs?: number): Promise<Outcome> {
    const req = linked([parent], timeoutMs);
    try {
      return await this.tryAcquireOrRenew(req.signal);
    } finally {
      req.dispose();
    }
  }

  private async tryAcquireOrRenew(signal: AbortSignal): Promise<Outcome> {
    const now = this.now();
    const path = objectPath(Resources.lease, this.namespace, this.name);
    let current: Lease | undefined;
    try {
      current = await this.call<Lease>({ method: 'GET', path, verb: 'get' }, signal);
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    const leaseDurationSeconds = Math.max(1, Math.ceil(this.leaseDurationMs / 1000));

    if (!current) {
      const stamp = toMicroTime(now);
      const body: Lease = {
        apiVersion: apiVersionOf(Resources.lease),
        kind: Resources.lease.kind,
        metadata: { name: this.name, namespace: this.namespace },
        spec: { holderIdentity: this.identity, leaseDurationSeconds, acquireTime: stamp, renewTime: stamp, leaseTransitions: 0 },
      };
      return this.write('POST', collectionPath(Resources.lease, this.namespace), body, signal);
    }

    this.observe(current);
    const spec = current.spec ?? {};
    const holder = spec.holderIdentity ?? '';
    const ours = holder === this.identity;
    if (holder && !ours && !isLeaseExpired(spec, now)) return 'other';

    // As client-go: a renewal keeps acquireTime and the transition count, a takeover starts a new term.
    const transitions = spec.leaseTransitions ?? 0;
    const next: LeaseSpec = {
      ...spec,
      holderIdentity: this.identity,
      leaseDurationSeconds,
      renewTime: toMicroTime(now),
      acquireTime: ours && spec.acquireTime ? spec.acquireTime : toMicroTime(now),
      leaseTransitions: ours ? transitions : transitions + 1,
    };
    return this.write('PUT', path, { ...current, metadata: withoutManagedFields(current), spec: next }, signal);
  }

  private async write(method: 'POST' | 'PUT', path: string, body: Lease, signal: AbortSignal): Promise<Outcome> {
    try {
      const written = await this.call<Lease>({ method, path, verb: method === 'POST' ? 'create' : 'update', body }, signal);
      this.observe(written);
      return 'held';
    } catch (err) {
      // Someone else created or updated the lease since we read it: they won this round. A PUT's 404
      // means it was deleted since: the next round creates it.
      if (err instanceof ApiError && (err.status === 409 || (method === 'PUT' && err.status === 404))) return 'conflict';
      throw err;
    }
  }

  private async call<T>({ method, path, verb, body }: { method: string; path: string; verb: 'get' | 'create' | 'update'; body?: Lease }, signal: AbortSignal): Promise<T> {
    try {
      return await this.client.request<T>(method, path, { verb, signal, ...(body ? { body } : {}) });
    } catch (err) {
      throw err instanceof ApiError ? new LeaseError(verb, this.namespace, this.name, err) : err;
    }
  }

  private observe(lease: Lease): void {
    this.observed = lease;
    const holder = lease.spec?.holderIdentity ?? '';
    if (holder !== this.lastHolder) {
      if (holder && holder !== this.identity) this.log.info({ lease: this.lease, identity: this.identity, holder }, 'Observed new leader');
      this.lastHolder = holder;
    }
  }

  /** After stop(): clears our holdership so a successor need not wait for the lease to expire. */
  private async giveUp(): Promise<void> {
    let lease = this.observed;
    const path = objectPath(Resources.lease, this.namespace, this.name);
    // A renewal that stop() aborted may still have reached the server: then our copy is one version
    // behind and the PUT answers 409 although the lease is still ours. Read it again and retry.
    for (let attempt = 0; attempt < 3; attempt++) {
      if (!lease || lease.spec?.holderIdentity !== this.identity) {
        if (attempt > 0) this.log.info({ lease: this.lease }, 'Skipped releasing a lease taken over meanwhile');
        return;
      }
      const stamp = toMicroTime(this.now());
      const spec: LeaseSpec = { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1, acquireTime: stamp, renewTime: stamp, leaseTransitions: lease.spec.leaseTransitions ?? 0 };
      const req = linked([], this.renewDeadlineMs);
      try {
        this.observed = await this.client.request<Lease>('PUT', path, { verb: 'update', body: { ...lease, metadata: withoutManagedFields(lease), spec }, signal: req.signal });
        this.log.info({ lease: this.lease, identity: this.identity }, 'Released leader lease');
        return;
      } catch (err) {
        if (!(err instanceof ApiError && err.status === 409)) {
          this.log.warn({ lease: this.lease, err: message(err) }, 'Failed to release leader lease; it expires after its duration');
          return;
        }
        lease = await this.client.request<Lease>('GET', path, { verb: 'get', signal: req.signal }).catch(() => undefined);
      } finally {
        req.dispose();
      }
    }
    this.log.warn({ lease: this.lease }, 'Failed to release leader lease after repeated conflicts; it expires after its duration');
  }
}

function withoutManagedFields(o: KubeObject): KubeObject['metadata'] {
  const metadata = { ...o.metadata };
  delete metadata.managedFields;
  return metadata;
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
