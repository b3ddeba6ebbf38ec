// spec.rateLimit of apisec.dev/v1alpha1 (re-exported by v1alpha1.ts). `scope: Global` asks for one count
// per client across every replica of the data plane; the store that count lives in (a Redis or Valkey)
// is named by the platform team in the operator's flags (--rate-limit-store), never by a tenant: the
// policy can only choose Global and what happens while the store cannot be reached.
import { z } from 'zod';
import * as P from './patterns.ts';

type Rule = { rule: string; message: string };
const cel = (...rules: Rule[]): { 'x-kubernetes-validations': Rule[] } => ({ 'x-kubernetes-validations': rules });

/** What a Global limit does while its store cannot be reached, when the policy does not say. */
export const RATE_LIMIT_STORE_DEFAULT = 'Deny' as const;

export const RateLimit = z
  .object({
    requestsPerSecond: z.number().int().min(1).max(100000).optional().describe('Sustained requests per second per key.'),
    requestsPerMinute: z.number().int().min(1).max(6000000).optional().describe('Sustained requests per minute per key.'),
    burst: z.number().int().min(0).max(1000000).optional().describe('Extra requests allowed in a burst above the rate (default: equal to the rate).'),
    key: z
      .enum(['ClientIP', 'Header', 'Subject'])
      .default('ClientIP')
      .describe('What a limit is counted per: the client address, a header value, or the authenticated identity (Subject: the JWT subject or API-key client id, counted by the apisec guard after it verified the credentials; needs scope Global and jwt, oidc or apiKey authentication without authURL).'),
    header: z.string().min(1).max(64).regex(new RegExp(P.HEADER_NAME)).optional().describe('Header whose value keys the limit when key is Header.'),
    maxConnections: z.number().int().min(1).max(P.MAX_CONNECTIONS).optional().describe(`Concurrent connections (or in-flight requests) per key; at most ${P.MAX_CONNECTIONS} (nginx limit_conn).`),
    windows: z
      .array(
        z
          .object({
            requests: z.number().int().min(1).max(1_000_000_000).describe('Requests allowed per key in one period.'),
            period: z.enum(['Minute', 'Hour', 'Day']).describe('The period.'),
          })
          .describe('A further limit per key.'),
      )
      .max(3)
      .optional()
      .describe(
        'Further limits per key that must hold as well, e.g. 10000 per Day beside 20 per second. Only with scope Global: the apisec guard counts them in the rate-limit store as sliding windows (the previous period, weighted by how much of it the window still covers, plus the current one).',
      ),
    scope: z
      .enum(['Local', 'Global'])
      .default('Local')
      .describe(
        "Local: each replica of the data plane counts on its own (N replicas let a client make N times the rate). Global: one count per key across every replica, kept in the rate-limit store the platform team configures in the operator (--rate-limit-store); without one the global count is reported as not enforced.",
      ),
    onStoreUnavailable: z
      .enum(['Allow', 'Deny'])
      .optional()
      .describe(`With scope Global, what happens to a request while the store cannot be reached: Allow lets it through uncounted, Deny refuses it. Default ${RATE_LIMIT_STORE_DEFAULT} (fail closed: a brute-force client gains nothing from an outage).`),
  })
  .describe('Rate limiting against brute force and denial of service. Exceeding it answers 429 where the data plane can.')
  .meta(
    cel(
      { rule: 'has(self.requestsPerSecond) != has(self.requestsPerMinute)', message: 'set exactly one of requestsPerSecond and requestsPerMinute' },
      { rule: '!has(self.burst) || (has(self.requestsPerSecond) ? self.burst >= self.requestsPerSecond : self.burst * 60 >= self.requestsPerMinute)', message: 'burst must be at least the per-second rate' },
      { rule: "self.key != 'Header' || has(self.header)", message: 'key Header needs header' },
      { rule: "!has(self.onStoreUnavailable) || self.scope == 'Global'", message: 'onStoreUnavailable applies to scope Global' },
      { rule: "!has(self.windows) || self.scope == 'Global'", message: 'windows are counted by the apisec guard in the rate-limit store: they need scope Global' },
      { rule: "self.key != 'Subject' || self.scope == 'Global'", message: 'key Subject is counted by the apisec guard in the rate-limit store: it needs scope Global' },
    ),
  )
  .refine((r) => (r.requestsPerSecond === undefined) !== (r.requestsPerMinute === undefined), 'set exactly one of requestsPerSecond and requestsPerMinute')
  .refine(
    (r) => r.burst === undefined || (r.requestsPerSecond !== undefined ? r.burst >= r.requestsPerSecond : r.burst * 60 >= (r.requestsPerMinute ?? 0)),
    { message: 'burst must be at least the per-second rate', path: ['burst'] },
  )
  .refine((r) => r.key !== 'Header' || r.header !== undefined, { message: 'key Header needs header', path: ['header'] })
  .refine((r) => r.onStoreUnavailable === undefined || r.scope === 'Global', { message: 'onStoreUnavailable applies to scope Global', path: ['onStoreUnavailable'] })
  .refine((r) => r.windows === undefined || r.scope === 'Global', { message: 'windows are counted by the apisec guard in the rate-limit store: they need scope Global', path: ['windows'] })
  .refine((r) => r.key !== 'Subject' || r.scope === 'Global', { message: 'key Subject is counted by the apisec guard in the rate-limit store: it needs scope Global', path: ['key'] });
export type RateLimit = z.infer<typeof RateLimit>;

/** The store behaviour of a parsed limit: the declared one, else the default. */
export const storeUnavailable = (r: RateLimit): 'Allow' | 'Deny' => r.onStoreUnavailable ?? RATE_LIMIT_STORE_DEFAULT;
