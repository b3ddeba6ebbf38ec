// API keys from a Secret: each data entry is one client's key, the entry's name the client id. Only a
// SHA-256 digest of each key is kept (the guard's Secret cache holds no key itself), and a presented key
// is compared with every digest in constant time, so neither the timing nor an early exit tells which
// client, or how much of a key, matched.
import { createHash, timingSafeEqual } from 'node:crypto';

/** Label a Secret must carry before the guard reads it: its owner's consent, and a bound on the cache. */
export { LABEL_API_KEYS } from '../render/labels.ts';
export const MAX_CLIENTS = 256;
export const MIN_KEY_BYTES = 16;
export const MAX_KEY_BYTES = 1024;

export type ApiKeySet = { ok: true; clients: { id: string; digest: Buffer }[] } | { ok: false; problem: string };

const digest = (key: Buffer | string): Buffer => createHash('sha256').update(key).digest();

/** The keys of a Secret's data (base64 values, as the API serves them); a wrong shape is a problem, not a throw. */
export function keySetFromData(data: unknown): ApiKeySet {
  if (data === undefined || data === null) return { ok: false, problem: 'the Secret has no data' };
  if (typeof data !== 'object' || Array.isArray(data)) return { ok: false, problem: 'the Secret data is not a map' };
  const entries = Object.entries(data as Record<string, unknown>);
  if (entries.length === 0) return { ok: false, problem: 'the Secret has no data' };
  if (entries.length > MAX_CLIENTS) return { ok: false, problem: `the Secret has ${entries.length} entries, more than ${MAX_CLIENTS}` };
  const clients: { id: string; digest: Buffer }[] = [];
  for (const [id, value] of entries) {
    if (typeof value !== 'string') return { ok: false, problem: `entry ${id} is not a string` };
    // A key written from a file often ends in a newline the client does not send.
    const key = Buffer.from(value, 'base64').toString('utf8').replace(/\r?\n$/, '');
    const bytes = Buffer.byteLength(key);
    if (bytes < MIN_KEY_BYTES || bytes > MAX_KEY_BYTES) return { ok: false, problem: `the key of entry ${id} is ${bytes} bytes; keys must have ${MIN_KEY_BYTES} to ${MAX_KEY_BYTES}` };
    clients.push({ id, digest: digest(key) });
  }
  return { ok: true, clients };
}

/** The client whose key this is, or undefined. Every digest is compared, whatever matched first. */
export function matchApiKey(set: Extract<ApiKeySet, { ok: true }>, presented: string): string | undefined {
  const d = digest(presented);
  let found: string | undefined;
  for (const c of set.clients) if (timingSafeEqual(c.digest, d) && found === undefined) found = c.id;
  return found;
}
