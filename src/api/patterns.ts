// Character-level rules shared by the zod schemas, the CRD (as OpenAPI patterns) and the renderers.
// They are deliberately narrower than the RFCs: every value that passes them is safe to place in an
// annotation, an nginx or HAProxy config without quoting tricks (no whitespace, quotes, braces, `;`,
// `$`, `#`, backslashes or non-ASCII look-alikes).
import { isIP } from 'node:net';

export const DNS_SUBDOMAIN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';
export const DNS_LABEL = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$';
/** HTTP header names: a strict subset of the RFC 9110 token (letters, digits, dashes). */
export const HEADER_NAME = '^[A-Za-z0-9][A-Za-z0-9-]*$';
/** A top-level JWT claim name the guard may copy into a header (no dots: no nested lookups). */
export const CLAIM = '^[A-Za-z0-9_:-]+$';
/** Identity headers the guard always sets; a claim header may not reuse them. */
export const GUARD_HEADERS: readonly string[] = ['x-auth-subject', 'x-auth-scopes', 'x-auth-client'];
/** Sizes like 512, 64Ki, 1Mi, 10M, 1Gi (binary and decimal suffixes of Kubernetes quantities). */
export const SIZE = '^[1-9][0-9]{0,9}(Ki|Mi|Gi|k|K|M|G)?$';
export const CIDR = '^[0-9a-fA-F.:]+/[0-9]{1,3}$';
/** Origins for CORS: scheme://host[:port] or the wildcard. */
export const ORIGIN = '^(\\*|https?://(\\*\\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*(:[0-9]{1,5})?)$';
/** http(s) URLs with a host, optional port and a plain path; no query, fragment or user info. */
export const URL_PLAIN = '^https?://[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*(:[0-9]{1,5})?(/[A-Za-z0-9._~/-]*)?$';
/**
 * Headers an auth endpoint's answer must never set on the request to the API: the routing host, the
 * caller's credentials and cookies (an endpoint that echoes them leaks or forges identity), and the
 * hop-by-hop headers that describe the connection, not the request.
 */
export const FORBIDDEN_RESPONSE_HEADERS: readonly string[] = [
  'host',
  'authorization',
  'proxy-authorization',
  'cookie',
  'set-cookie',
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'content-length',
];

/** An allowed auth host: a DNS name, a dotted IPv4 address, or *.suffix. */
export const ALLOWED_HOST = '^(\\*\\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';
/** A URL prefix for an allow-list: scheme://host[:port] and an optional path ending in /. */
export const URL_PREFIX = '^https?://[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*(:[0-9]{1,5})?(/([A-Za-z0-9._~-]+/)*)?$';
export const HTTPS_URL = '^https://[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*(:[0-9]{1,5})?(/[A-Za-z0-9._~/-]*)?$';
/** URL paths for authorization rules; `*` as a trailing wildcard segment. */
export const URL_PATH = '^/[A-Za-z0-9._~/*-]*$';
export const MEDIA_TYPE = '^[a-z0-9][a-z0-9.+-]*/[a-z0-9*][a-z0-9.+*-]*$';
/** Scopes and claim values: OAuth scope-token characters without quotes or backslash. */
export const SCOPE = '^[A-Za-z0-9:._/-]+$';
export const LABEL_KEY = '^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$';
export const LABEL_VALUE = '^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$';

/** Exact CIDR check (the pattern above only keeps the character set safe). */
export function isCidr(value: string): boolean {
  const slash = value.indexOf('/');
  if (slash < 0) return false;
  const addr = value.slice(0, slash);
  const bits = value.slice(slash + 1);
  if (!/^[0-9]{1,3}$/.test(bits)) return false;
  const family = isIP(addr);
  const max = family === 4 ? 32 : family === 6 ? 128 : -1;
  return max > 0 && Number(bits) <= max;
}

const SIZE_FACTORS: Record<string, number> = {
  '': 1,
  k: 1000,
  K: 1000,
  M: 1000 ** 2,
  G: 1000 ** 3,
  Ki: 1024,
  Mi: 1024 ** 2,
  Gi: 1024 ** 3,
};

/**
 * The largest body size any data plane here accepts and the operator renders (nginx refuses sizes above
 * 8589934591g; ingress-nginx renders the same directive; Traefik takes an int64): 64Gi.
 */
export const MAX_SIZE_BYTES = 64 * 1024 ** 3;

/** The largest connection limit every data plane takes (nginx's limit_conn). */
export const MAX_CONNECTIONS = 65535;

/** The same bound in CEL: the number before each suffix, at most what fits in 64Gi. */
export const SIZE_BOUND_CEL = [
  ['Gi', 64],
  ['Mi', 64 * 1024],
  ['Ki', 64 * 1024 * 1024],
  ['G', 68],
  ['M', 68719],
  ['k', 68719476],
  ['K', 68719476],
]
  .map(([suffix, max]) => `self.endsWith('${suffix}') ? int(self.substring(0, self.size() - ${String(suffix).length})) <= ${max} : `)
  .join('')
  .concat('true');

/** Bytes of a SIZE string, or undefined when it does not match. */
export function sizeToBytes(size: string): number | undefined {
  const m = /^([1-9][0-9]{0,9})(Ki|Mi|Gi|k|K|M|G)?$/.exec(size);
  if (!m) return undefined;
  return Number(m[1]) * (SIZE_FACTORS[m[2] ?? ''] ?? 1);
}

const OCTET = '(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])';
/** An IPv4 address in its one canonical form (four decimal octets, no leading zeros). */
export const CANONICAL_IPV4 = `(${OCTET}\\.){3}${OCTET}`;
/** The API server's names inside the cluster (any cluster domain after `.svc.`). */
export const API_SERVER_HOSTS = ['kubernetes', 'kubernetes.default', 'kubernetes.default.svc'] as const;

// Patterns over a whole URL that already matched URL_PLAIN or HTTPS_URL (so its host is [a-z0-9.-]):
// the host, then an optional port and path. Over the URL, not url().getHostname(), whose result CEL
// cannot bound, so the cost estimate stays within the API server's budget.
const AFTER_HOST = '(:[0-9]+)?(/.*)?$';
/**
 * A host that a URL parser reads as an IPv4 address: its last label is a number (decimal, or 0x hex), as
 * the WHATWG URL standard says ("ends in a number"). 2852039166, 0x7f000001, 0177.0.0.1, 127.1 and 0 are
 * such hosts, and each names an address that the host's text hides.
 */
export const NUMERIC_HOST_URL = `^https?://([^/:]*\\.)?(0x[0-9a-f]*|[0-9]+)${AFTER_HOST}`;
export const CANONICAL_IPV4_URL = `^https?://${CANONICAL_IPV4}${AFTER_HOST}`;
/** Hosts in 0.0.0.0/8 ("this network") and 169.254.0.0/16 (link-local: cloud metadata endpoints). */
export const NEVER_HOST_URL = '^https?://(0|169\\.254)\\.';
export const API_SERVER_URL = `^https?://(kubernetes|kubernetes\\.default|kubernetes\\.default\\.svc(\\.[^/:]*)?)${AFTER_HOST}`;

/**
 * CEL on every outbound URL field: what no operator setting may allow, refused at admission. A host
 * written as a number in any form but the dotted one, the "this network" block 0.0.0.0/8, the link-local
 * block 169.254.0.0/16 (cloud metadata), and the API server's names. IPv6 literals cannot pass the URL
 * patterns at all (no brackets). Other IP literals and loopback are refused by the operator unless its
 * allow-list names them (src/compliance/outbound.ts).
 */
export const OUTBOUND_URL_CEL: { rule: string; message: string }[] = [
  {
    rule: `!self.matches(r'${NUMERIC_HOST_URL}') || self.matches(r'${CANONICAL_IPV4_URL}')`,
    message: 'the host must be a DNS name (or a dotted IPv4 address), not a number in decimal, hex, octal or short form',
  },
  { rule: `!self.matches(r'${NEVER_HOST_URL}')`, message: 'the host must not be an unspecified (0.0.0.0/8) or link-local (169.254.0.0/16) address' },
  { rule: `!self.matches(r'${API_SERVER_URL}')`, message: "the host must not be the Kubernetes API server's name" },
];

/** The host of a URL as written (not normalised by a URL parser), lower case. */
export function writtenHost(url: string): string | undefined {
  return /^[a-z][a-z0-9+.-]*:\/\/([^/:?#[\]]+)/i.exec(url)?.[1]?.toLowerCase();
}

/** The same refusals as OUTBOUND_URL_CEL, for the schema's second validation: the message, or undefined. */
export function outboundURLRefusal(url: string): string | undefined {
  const [numeric, never, apiServer] = OUTBOUND_URL_CEL;
  if (new RegExp(NUMERIC_HOST_URL).test(url) && !new RegExp(CANONICAL_IPV4_URL).test(url)) return numeric?.message;
  if (new RegExp(NEVER_HOST_URL).test(url)) return never?.message;
  if (new RegExp(API_SERVER_URL).test(url)) return apiServer?.message;
  return undefined;
}
