// GET of a small JSON document over https (discovery documents, JWKS): bounded in time and size, no
// redirects, the system's CAs plus any given (an in-cluster provider often has a private CA).
import { readFileSync } from 'node:fs';
import { get } from 'node:https';
import { rootCertificates } from 'node:tls';
import type { FetchJson } from './jwks.ts';

export const MAX_DOCUMENT_BYTES = 1024 * 1024;

export function httpsJsonFetcher(opts: { caFile?: string; timeoutMs?: number } = {}): FetchJson {
  const ca = opts.caFile ? [...rootCertificates, readFileSync(opts.caFile, 'utf8')] : undefined;
  const timeout = opts.timeoutMs ?? 5000;
  return (url) =>
    new Promise((resolve, reject) => {
      if (!url.startsWith('https://')) {
        reject(new Error(`refusing to fetch keys over plain http: ${url}`));
        return;
      }
      const req = get(url, { ...(ca ? { ca } : {}), timeout, headers: { accept: 'application/json' } }, (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          reject(new Error(`${url} answered ${res.statusCode ?? 0}`));
          return;
        }
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > MAX_DOCUMENT_BYTES) req.destroy(new Error(`${url} sent more than ${MAX_DOCUMENT_BYTES} bytes`));
          else chunks.push(c);
        });
        res.on('end', () => {
          try {
            resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
          } catch {
            reject(new Error(`${url} did not send JSON`));
          }
        });
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error(`${url} did not answer within ${timeout} ms`)));
      req.on('error', reject);
    });
}
