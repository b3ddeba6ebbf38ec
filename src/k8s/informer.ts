// A supervised list+watch cache (a "reflector" plus store). It pages the initial list, watches from the
// list's resourceVersion with bookmarks, relists on 410 Gone, restarts with jittered backoff on any
// error, and aborts a stream that stays silent past the server's timeout (a watchdog). Handlers only get
// the object and must do nothing but enqueue keys: the controller is level-triggered.
import type { Logger } from 'pino';
import { DEFAULT_WATCH_TIMEOUT_SECONDS, type KubeClient } from './client.ts';
import { ApiError, isGone } from './errors.ts';
import { METADATA_WATCH, listPages } from './list.ts';
import { apiVersionOf, collectionPath, keyOf, type KubeObject, type ResourceType } from './resources.ts';
import { sleep } from '../util/sleep.ts';

export interface InformerOptions {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  pageSize?: number;
  /** Lists and watches metadata only (PartialObjectMetadata), e.g. of Secrets whose data is never needed. */
  metadataOnly?: boolean;
  watchTimeoutSeconds?: number;
  /** Backoff between failed attempts: base and cap in milliseconds. */
  backoffMs?: [number, number];
  /** Keeps only what the cache needs of each object (e.g. digests instead of a Secret's data). */
  transform?: (obj: KubeObject) => KubeObject;
  /** Secondary indexes (client-go's Indexers): name → the values an object is found under by byIndex. */
  indexers?: Record<string, (obj: KubeObject) => string[]>;
}

export type Handler<T> = (obj: T, kind: 'upsert' | 'delete') => void;

export interface InformerHealth {
  resource: string;
  synced: boolean;
  healthy: boolean;
  restarts: number;
  /** Lists after the first (after an error, or a watch that answered 410 Gone). */
  relists: number;
  /** Watches resumed from a resourceVersion whose history was gone (410): each followed by a relist. */
  expired: number;
  lastError?: string;
}

export class Informer<T extends KubeObject = KubeObject> {
  private readonly store = new Map<string, T>();
  /** The store by namespace ('' for cluster-scoped objects), in the store's order. */
  private readonly byNamespace = new Map<string, Map<string, T>>();
  /** index → value → key → object. */
  private readonly indexes = new Map<string, Map<string, Map<string, T>>>();
  private readonly handlers: Handler<T>[] = [];
  private abort = new AbortController();
  private stopped = false;
  private running?: Promise<void>;
  private synced = false;
  private healthy = false;
  private restarts = 0;
  private relists = 0;
  private expired = 0;
  private lastError?: string;
  private syncWaiters: (() => void)[] = [];

  private readonly client: KubeClient;
  readonly resource: ResourceType;
  private readonly log: Logger;
  private readonly opts: InformerOptions;

  constructor(client: KubeClient, resource: ResourceType, log: Logger, opts: InformerOptions = {}) {
    this.client = client;
    this.resource = resource;
    this.log = log;
    this.opts = opts;
  }

  on(handler: Handler<T>): void {
    this.handlers.push(handler);
  }

  get(key: string): T | undefined {
    return this.store.get(key);
  }

  /** Every object, or those of one namespace (from the namespace index: no scan of the store). */
  list(namespace?: string): T[] {
    if (namespace === undefined) return [...this.store.values()];
    return [...(this.byNamespace.get(namespace)?.values() ?? [])];
  }

  /** The objects an indexer (InformerOptions.indexers) files under `value`. */
  byIndex(index: string, value: string): T[] {
    return [...(this.indexes.get(index)?.get(value)?.values() ?? [])];
  }

  private indexValues(obj: T): [string, string[]][] {
    return Object.entries(this.opts.indexers ?? {}).map(([name, fn]) => [name, [...new Set(fn(obj))]]);
  }

  private put(key: string, obj: T): void {
    const old = this.store.get(key);
    if (old) this.unindex(key, old);
    this.store.set(key, obj);
    const ns = obj.metadata.namespace ?? '';
    let inNs = this.byNamespace.get(ns);
    if (!inNs) this.byNamespace.set(ns, (inNs = new Map()));
    inNs.set(key, obj);
    for (const [name, values] of this.indexValues(obj)) {
      let index = this.indexes.get(name);
      if (!index) this.indexes.set(name, (index = new Map()));
      for (const v of values) {
        let keys = index.get(v);
        if (!keys) index.set(v, (keys = new Map()));
        keys.set(key, obj);
      }
    }
  }

  private remove(key: string): void {
    const old = this.store.get(key);
    if (!old) return;
    this.unindex(key, old);
    this.store.delete(key);
    const ns = old.metadata.namespace ?? '';
    const inNs = this.byNamespace.get(ns);
    inNs?.delete(key);
    if (inNs?.size === 0) this.byNamespace.delete(ns);
  }

  /** Drops the index entries of an object's previous version (its namespace entry stays, in place). */
  private unindex(key: string, old: T): void {
    for (const [name, values] of this.indexValues(old)) {
      const index = this.indexes.get(name);
      for (const v of values) {
        const keys = index?.get(v);
        keys?.delete(key);
        if (keys?.size === 0) index?.delete(v);
      }
    }
  }

  get hasSynced(): boolean {
    return this.synced;
  }

  health(): InformerHealth {
    return {
      resource: this.resource.plural,
      synced: this.synced,
      healthy: this.healthy,
      restarts: this.restarts,
      relists: this.relists,
      expired: this.expired,
      ...(this.lastError ? { lastError: this.lastError } : {}),
    };
  }

  start(): void {
    this.running ??= this.run();
  }

  async waitForSync(signal?: AbortSignal): Promise<boolean> {
    if (this.synced) return true;
    return new Promise((resolve) => {
      const done = (): void => resolve(this.synced);
      this.syncWaiters.push(done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.abort.abort();
    await this.running;
    for (const w of this.syncWaiters.splice(0)) w();
  }

  private shape(obj: KubeObject): T {
    return (this.opts.transform ? this.opts.transform(obj) : obj) as T;
  }

  private emit(obj: T, kind: 'upsert' | 'delete'): void {
    for (const h of this.handlers) {
      try {
        h(obj, kind);
      } catch (err) {
        this.log.error({ err }, 'Informer handler failed');
      }
    }
  }

  private async run(): Promise<void> {
    const [base, cap] = this.opts.backoffMs ?? [500, 30_000];
    let failures = 0;
    while (!this.stopped) {
      try {
        let rv = await this.relist();
        failures = 0;
        for (;;) {
          if (this.stopped) return;
          rv = await this.watch(rv);
        }
      } catch (err) {
        if (this.stopped) return;
        if (isGone(err)) {
          this.expired++;
          this.log.info({ resource: this.resource.plural }, 'Watch expired, relisting');
          continue;
        }
        failures++;
        this.restarts++;
        this.healthy = false;
        this.lastError = err instanceof Error ? err.message : String(err);
        const delay = Math.min(cap, base * 2 ** Math.min(failures - 1, 16)) * (0.5 + Math.random() / 2);
        this.log.warn({ resource: this.resource.plural, err: this.lastError, retryInMs: Math.round(delay) }, 'Informer failed, restarting');
        await sleep(delay, this.abort.signal);
      }
    }
  }

  private async relist(): Promise<string> {
    const fresh = new Map<string, T>();
    let rv = '';
    const { namespace, labelSelector, fieldSelector, pageSize, metadataOnly } = this.opts;
    for await (const page of listPages<T>(this.client, this.resource, { namespace, labelSelector, fieldSelector, pageSize, metadataOnly, signal: this.abort.signal })) {
      for (const item of page.items) fresh.set(keyOf(item), this.shape(item));
      rv = page.resourceVersion;
    }

    if (this.synced) this.relists++;
    // Replace the store and tell handlers what differs (a relist can hide missed deletes).
    const old = new Map(this.store);
    this.store.clear();
    this.byNamespace.clear();
    this.indexes.clear();
    for (const [k, v] of fresh) this.put(k, v);
    for (const [k, v] of fresh) if (old.get(k)?.metadata.resourceVersion !== v.metadata.resourceVersion) this.emit(v, 'upsert');
    for (const [k, v] of old) if (!fresh.has(k)) this.emit(v, 'delete');
    this.healthy = true;
    if (!this.synced) {
      this.synced = true;
      for (const w of this.syncWaiters.splice(0)) w();
    }
    return rv;
  }

  /** Watches from rv until the server ends the stream; returns the last resourceVersion seen. */
  private async watch(rv: string): Promise<string> {
    const timeout = this.opts.watchTimeoutSeconds ?? this.client.watchTimeoutSeconds ?? DEFAULT_WATCH_TIMEOUT_SECONDS;
    const local = new AbortController();
    const onStop = (): void => local.abort();
    this.abort.signal.addEventListener('abort', onStop, { once: true });
    // Watchdog: a stream silent for longer than the server-side timeout (plus some slack) is dead, e.g. a
    // connection that a middlebox stopped forwarding without closing it.
    const bound = (timeout + Math.min(30, Math.max(5, timeout))) * 1000;
    let idle = setTimeout(() => local.abort(), bound);
    const touch = (): void => {
      clearTimeout(idle);
      idle = setTimeout(() => local.abort(), bound);
    };
    try {
      const res = await this.client.stream(collectionPath(this.resource, this.opts.namespace), {
        verb: 'watch',
        query: { watch: 1, resourceVersion: rv, allowWatchBookmarks: true, timeoutSeconds: timeout, labelSelector: this.opts.labelSelector, fieldSelector: this.opts.fieldSelector },
        ...(this.opts.metadataOnly ? { accept: METADATA_WATCH } : {}),
        signal: local.signal,
      });
      this.healthy = true;
      const decoder = new TextDecoder();
      let buf = '';
      for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
        touch();
        buf += decoder.decode(chunk, { stream: true });
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl).trim();
          buf = buf.slice(nl + 1);
          if (line) rv = this.handleEvent(line, rv);
        }
      }
      return rv;
    } catch (err) {
      if (local.signal.aborted && !this.stopped) throw new ApiError('watch stream was silent too long', 0, 'WatchTimeout');
      throw err;
    } finally {
      clearTimeout(idle);
      this.abort.signal.removeEventListener('abort', onStop);
    }
  }

  private handleEvent(line: string, rv: string): string {
    const ev = JSON.parse(line) as { type: string; object: T & { code?: number; message?: string } };
    if (ev.type === 'ERROR') {
      const code = ev.object.code ?? 500;
      throw new ApiError(`watch error: ${ev.object.message ?? ''}`, code, code === 410 ? 'Expired' : 'WatchError');
    }
    const obj = ev.object;
    const next = obj.metadata?.resourceVersion ?? rv;
    if (ev.type === 'BOOKMARK') return next;
    const typed = this.shape({ ...obj, apiVersion: apiVersionOf(this.resource), kind: this.resource.kind });
    const key = keyOf(typed);
    if (ev.type === 'DELETED') {
      this.remove(key);
      this.emit(typed, 'delete');
    } else {
      this.put(key, typed);
      this.emit(typed, 'upsert');
    }
    return next;
  }
}
