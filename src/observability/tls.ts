// The serving certificate of the authenticated /metrics server (--metrics-auth=kubernetes): tls.crt and
// tls.key from --metrics-cert-dir (a mounted Secret, e.g. cert-manager's), read at start and read again
// every 10 s, so a renewed certificate is served within that time without a restart (a pair that does
// not load is logged and the previous one kept); without a directory, a self-signed certificate made at
// start (self-signed.ts). Polling rather than fs.watch: Secret volumes change by swapping a symlink,
// which inotify watches on the files miss.
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { createSecureContext } from 'node:tls';
import type { Logger } from 'pino';
import { selfSignedCertificate } from './self-signed.ts';

export interface KeyPair {
  cert: string;
  key: string;
}

export interface ServingTls {
  /** Where the pair comes from: 'self-signed' or the directory. */
  source: string;
  current(): KeyPair;
  /** Calls fn with each new pair until the returned function is called. */
  watch(fn: (pair: KeyPair) => void): () => void;
}

export interface ServingTlsOptions {
  certDir?: string;
  /** Names of the self-signed certificate (default localhost, the host name, 127.0.0.1, ::1). */
  hosts?: string[];
  log: Logger;
  /** Default 10 s. */
  pollMs?: number;
  /** What the certificate serves, for the log (default "metrics"). */
  serves?: string;
}

/** tls.crt and tls.key of dir; throws if either is missing or they do not make a TLS context. */
export function readKeyPair(dir: string): KeyPair {
  const pair = { cert: readFileSync(join(dir, 'tls.crt'), 'utf8'), key: readFileSync(join(dir, 'tls.key'), 'utf8') };
  createSecureContext(pair); // a key that does not match the certificate throws here, not at the first handshake
  return pair;
}

export function servingTls(opts: ServingTlsOptions): ServingTls {
  const { certDir, log } = opts;
  if (!certDir) {
    const pair = selfSignedCertificate(opts.hosts ?? ['localhost', hostname(), '127.0.0.1', '::1']);
    return { source: 'self-signed', current: () => pair, watch: () => () => undefined };
  }
  let pair = readKeyPair(certDir);
  const serves = opts.serves ?? 'metrics';
  return {
    source: certDir,
    current: () => pair,
    watch: (fn) => {
      const timer = setInterval(() => {
        let next: KeyPair;
        try {
          next = readKeyPair(certDir);
        } catch (err) {
          log.warn({ err: err instanceof Error ? err.message : String(err), certDir }, `Cannot reload the ${serves} certificate: keeping the previous one`);
          return;
        }
        if (next.cert === pair.cert && next.key === pair.key) return;
        pair = next;
        log.info({ certDir }, `Reloaded the ${serves} certificate`);
        fn(pair);
      }, opts.pollMs ?? 10_000);
      timer.unref();
      return () => clearInterval(timer);
    },
  };
}
