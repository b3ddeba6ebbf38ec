// Signing keys per source (a jwksURI, or an issuer's discovery document → jwks_uri), cached. A token
// whose `kid` no cached key has triggers a refresh, at most once per cooldown per source, so a key
// rotated at the provider is accepted without a restart while a flood of made-up kids costs one fetch.
// Keys older than maxAge are refreshed on use; if the provider is down, the cached keys keep working
// for staleFor, then every token is refused (KeysUnavailable), never accepted.
import { createLocalJWKSet, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose';
import { KeysUnavailableError } from './decide.ts';

export type FetchJson = (url: string) => Promise<unknown>;

export type KeySource = { jwksURI: string } | { issuer: string };

export interface JwksOptions {
  maxAgeMs?: number;
  cooldownMs?: number;
  staleForMs?: number;
  maxSources?: number;
  now?: () => number;
}

interface Entry {
  local?: ReturnType<typeof createLocalJWKSet>;
  fetchedAt: number;
  attemptedAt: number;
  lastError?: string;
  inflight?: Promise<void>;
}

const sourceKey = (s: KeySource): string => ('jwksURI' in s ? `jwks ${s.jwksURI}` : `issuer ${s.issuer}`);

/** The keys a JWKS document offers for signatures; anything else in it is ignored. */
export function usableKeys(doc: unknown): JSONWebKeySet {
  if (!doc || typeof doc !== 'object' || !Array.isArray((doc as { keys?: unknown }).keys)) throw new KeysUnavailableError('the JWKS is not a JSON object with a keys array');
  const keys = ((doc as { keys: unknown[] }).keys).filter(
    (k): k is JSONWebKeySet['keys'][number] =>
      !!k && typeof k === 'object' && ['RSA', 'EC', 'OKP'].includes(String((k as { kty?: unknown }).kty)) && (k as { use?: unknown }).use !== 'enc',
  );
  if (keys.length === 0) throw new KeysUnavailableError('the JWKS has no usable signing key (RSA, EC or OKP)');
  return { keys };
}

export class JwksCache {
  private readonly entries = new Map<string, Entry>();
  private readonly fetchJson: FetchJson;
  private readonly maxAgeMs: number;
  private readonly cooldownMs: number;
  private readonly staleForMs: number;
  private readonly maxSources: number;
  private readonly now: () => number;
  /** Fetches made, for tests and metrics. */
  fetches = 0;

  constructor(fetchJson: FetchJson, opts: JwksOptions = {}) {
    this.fetchJson = fetchJson;
    this.maxAgeMs = opts.maxAgeMs ?? 10 * 60_000;
    this.cooldownMs = opts.cooldownMs ?? 10_000;
    this.staleForMs = opts.staleForMs ?? 60 * 60_000;
    this.maxSources = opts.maxSources ?? 1000;
    this.now = opts.now ?? Date.now;
  }

  /** A jose key resolver for one source. */
  resolver(source: KeySource): JWTVerifyGetKey {
    return async (header, token) => {
      const entry = this.entry(source);
      const t = this.now();
      if (!entry.local || t - entry.fetchedAt > this.maxAgeMs) await this.refresh(source, entry, false);
      this.assertFresh(entry);
      try {
        return await (entry.local as NonNullable<Entry['local']>)(header, token);
      } catch (err) {
        if ((err as { code?: string }).code !== 'ERR_JWKS_NO_MATCHING_KEY') throw err;
        // An unknown kid may be a rotated key: fetch again, at most once per cooldown.
        if (!(await this.refresh(source, entry, true))) throw err;
        this.assertFresh(entry);
        return (entry.local as NonNullable<Entry['local']>)(header, token);
      }
    };
  }

  private assertFresh(entry: Entry): void {
    if (!entry.local) throw new KeysUnavailableError(`no signing keys: ${entry.lastError ?? 'not fetched'}`);
    if (this.now() - entry.fetchedAt > this.maxAgeMs + this.staleForMs) {
      throw new KeysUnavailableError(`the cached signing keys are too old and the provider does not answer: ${entry.lastError ?? ''}`);
    }
  }

  private entry(source: KeySource): Entry {
    const key = sourceKey(source);
    let e = this.entries.get(key);
    if (e) {
      // Most recently used last, so the oldest is evicted first.
      this.entries.delete(key);
      this.entries.set(key, e);
      return e;
    }
    e = { fetchedAt: 0, attemptedAt: -Infinity };
    this.entries.set(key, e);
    if (this.entries.size > this.maxSources) this.entries.delete(this.entries.keys().next().value as string);
    return e;
  }

  /** Fetches the keys (once at a time per source); false when the cooldown forbade it. */
  private async refresh(source: KeySource, entry: Entry, onUnknownKid: boolean): Promise<boolean> {
    if (entry.inflight) {
      await entry.inflight;
      return true;
    }
    const t = this.now();
    if (t - entry.attemptedAt < this.cooldownMs) return !onUnknownKid && entry.local !== undefined;
    entry.attemptedAt = t;
    entry.inflight = (async () => {
      try {
        this.fetches++;
        const jwks = usableKeys(await this.fetchJson(await this.jwksURIOf(source)));
        entry.local = createLocalJWKSet(jwks);
        entry.fetchedAt = this.now();
        delete entry.lastError;
      } catch (err) {
        entry.lastError = err instanceof Error ? err.message : String(err);
      } finally {
        delete entry.inflight;
      }
    })();
    await entry.inflight;
    return true;
  }

  private async jwksURIOf(source: KeySource): Promise<string> {
    if ('jwksURI' in source) return source.jwksURI;
    const doc = (await this.fetchJson(`${source.issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`)) as { issuer?: unknown; jwks_uri?: unknown } | null;
    if (!doc || typeof doc !== 'object') throw new KeysUnavailableError('the discovery document is not a JSON object');
    if (doc.issuer !== source.issuer) throw new KeysUnavailableError('the discovery document names another issuer');
    if (typeof doc.jwks_uri !== 'string' || !doc.jwks_uri.startsWith('https://')) throw new KeysUnavailableError('the discovery document has no https jwks_uri');
    return doc.jwks_uri;
  }
}
