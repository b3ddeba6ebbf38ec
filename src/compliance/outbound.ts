// Outbound URLs of a policy: the auth endpoint the shared data plane calls for every request, the sign-in
// page browsers are sent to, and the key and issuer URLs the auth endpoint fetches. A tenant must not
// point them at what only the cluster can reach: the cloud metadata endpoint, the API server, loopback
// ports of the ingress controller, another tenant's pods by address. The CRD already refuses what no
// setting may allow (patterns.ts OUTBOUND_URL_CEL); this is the second, exact check, on the host as a
// WHATWG URL parser normalises it (2852039166, 0x7f000001, 0177.0.0.1, 127.1 and 0 all become dotted
// addresses), and the place the operator's and the baselines' allow-lists apply. Pure.
import { BlockList, isIP } from 'node:net';
import { API_SERVER_HOSTS, writtenHost } from '../api/patterns.ts';
import type { ApiSecurityPolicySpec } from '../api/v1alpha1.ts';
import { UnsafeValueError } from '../render/sidecar-nginx.ts';
import { inert } from '../render/text.ts';

/** A policy names an outbound URL that is not allowed: terminal, `Accepted=False` with this reason. */
export class OutboundURLError extends UnsafeValueError {
  override readonly reason = 'OutboundURLRefused';
}

/** Addresses that no allow-list may name: unspecified, "this network", link-local, IPv4-mapped IPv6. */
const NEVER = new BlockList();
NEVER.addSubnet('0.0.0.0', 8, 'ipv4');
NEVER.addSubnet('169.254.0.0', 16, 'ipv4');
NEVER.addAddress('::', 'ipv6');
NEVER.addSubnet('fe80::', 10, 'ipv6');
// A mapped address is an IPv4 address in disguise: the allow-list names the IPv4 form instead. Its own
// list, because a BlockList matches IPv4 addresses against mapped IPv6 rules too.
const MAPPED = new BlockList();
MAPPED.addSubnet('::ffff:0:0', 96, 'ipv6');

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

/** An allow-list entry: an exact host (a DNS name or an IP address), or `*.suffix` for the names below a domain. */
export function isAllowedHostEntry(entry: string): boolean {
  const name = entry.startsWith('*.') ? entry.slice(2) : entry;
  if (entry.startsWith('*.') && isIP(name)) return false;
  try {
    return normalHost(name) === (isIP(name) === 6 ? `[${name}]` : name) && name.length > 0;
  } catch {
    return false;
  }
}

function normalHost(host: string): string {
  return new URL(`http://${isIP(host) === 6 ? `[${host}]` : host}/`).hostname;
}

const bare = (host: string): string => host.replace(/^\[|\]$/g, '');

function hostMatches(host: string, entry: string): boolean {
  if (entry.startsWith('*.')) return isIP(bare(host)) === 0 && host.endsWith(entry.slice(1));
  return isAllowedHostEntry(entry) && host === normalHost(entry);
}

const isApiServer = (host: string): boolean => (API_SERVER_HOSTS as readonly string[]).includes(host) || host.startsWith('kubernetes.default.svc.');

interface UrlField {
  field: string;
  url: string;
  /** The data plane or a browser goes there: it must be on the allow-list when there is one. */
  listed: boolean;
}

function urlFields(spec: ApiSecurityPolicySpec): UrlField[] {
  const a = spec.authentication;
  if (!a) return [];
  const out: UrlField[] = [];
  for (const method of ['oidc', 'jwt', 'apiKey', 'external'] as const) {
    const authURL = a[method]?.authURL;
    if (authURL) out.push({ field: `authentication.${method}.authURL`, url: authURL, listed: true });
  }
  if (a.oidc?.signinURL) out.push({ field: 'authentication.oidc.signinURL', url: a.oidc.signinURL, listed: true });
  if (a.oidc?.issuerURL) out.push({ field: 'authentication.oidc.issuerURL', url: a.oidc.issuerURL, listed: false });
  if (a.jwt?.jwksURI) out.push({ field: 'authentication.jwt.jwksURI', url: a.jwt.jwksURI, listed: false });
  return out;
}

/** Why an IP address host is refused: always when it must never be called, else unless listed exactly. */
function addressRefusal(host: string, exact: boolean): string | undefined {
  const ip = bare(host);
  const family = isIP(ip);
  const kind = family === 4 ? 'ipv4' : 'ipv6';
  if (NEVER.check(ip, kind) || (family === 6 && MAPPED.check(ip, 'ipv6'))) return `names the address ${host}, which is unspecified, link-local or IPv4-mapped`;
  if (!exact) return `names the ${LOOPBACK.check(ip, kind) ? 'loopback ' : ''}address ${host}; only an address the operator's allowed auth hosts list exactly may be used`;
  return undefined;
}

/** Why the host of one URL is refused, or undefined when it is allowed. */
function refusal(url: string, listed: boolean, allowed: readonly string[], authHost: string | undefined): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'is not a URL';
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return 'is not an http(s) URL';
  const host = parsed.hostname;
  const written = writtenHost(url);
  if (written !== undefined && written !== host) return `writes its host as ${inert(written, 253, true)}, which URL parsers read as ${host}`;
  if (isApiServer(host)) return "names the Kubernetes API server";
  const exact = allowed.some((e) => !e.startsWith('*.') && hostMatches(host, e));
  if (isIP(bare(host)) !== 0) return addressRefusal(host, exact);
  if ((host === 'localhost' || host.endsWith('.localhost')) && !exact) return `names ${host}, a loopback name; only the operator's allowed auth hosts may name it`;
  if (!listed || exact || allowed.some((e) => hostMatches(host, e))) return undefined;
  // signinURL: an open redirect otherwise.
  if (authHost !== undefined) return host === authHost ? undefined : `sends browsers to ${host}, which is neither the auth endpoint's host (${authHost}) nor an allowed auth host`;
  if (allowed.length === 0) return undefined;
  return `names ${host}, which is not among the allowed auth hosts (${allowed.join(', ')})`;
}

/**
 * The refused outbound URLs of a spec, one message each. `allowed`: the operator's allowed auth hosts and
 * those of the baselines that select the namespace; when it is empty any DNS name may be called, except
 * the API server's and loopback names. signinURL must be on the auth endpoint's host or an allowed one.
 */
export function outboundRefusals(spec: ApiSecurityPolicySpec, allowed: readonly string[]): string[] {
  const fields = urlFields(spec);
  const authURL = fields.find((f) => f.field.endsWith('.authURL'))?.url;
  let authHost: string | undefined;
  try {
    authHost = authURL === undefined ? undefined : new URL(authURL).hostname;
  } catch {
    authHost = undefined;
  }
  const out: string[] = [];
  for (const f of fields) {
    const why = refusal(f.url, f.listed, allowed, f.field.endsWith('.signinURL') ? authHost : undefined);
    if (why) out.push(`spec.${f.field} ${inert(f.url, 512, true)} ${why}`);
  }
  return out;
}

/** Throws OutboundURLError naming every refused URL. */
export function assertOutboundURLs(spec: ApiSecurityPolicySpec, allowed: readonly string[]): void {
  const refused = outboundRefusals(spec, allowed);
  if (refused.length) throw new OutboundURLError(refused.join('; '));
}
