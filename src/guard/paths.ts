// The path a rule is matched against is the path the application will see after it decodes and
// resolves the URI, so `/v1/orders/../admin`, `/v1//admin` and `/v1/%2e%2e/admin` are judged as
// `/admin`. Encodings that applications resolve differently from one another (an encoded slash or
// backslash, a second layer of percent-encoding, NUL) are refused rather than guessed at.

export const MAX_URI_LENGTH = 8192;

/** What a check request's URL names: the policy and, after it, the original request's path and query. */
export interface CheckPath {
  namespace: string;
  name: string;
  /** The path (with its query) after `/check/{namespace}/{policy}`, as Envoy's ext_authz `path_prefix` appends it; raw. */
  target?: string;
}

const CHECK = /^\/check\/([a-z0-9](?:[-a-z0-9]*[a-z0-9])?)\/([a-z0-9](?:[-a-z0-9.]*[a-z0-9])?)(\/.*)?$/s;

/**
 * `/check/{namespace}/{policy}`, optionally followed by `/…`: the original path. The query of a bare check
 * URL is ignored (as before); with a suffix it is the original query. The suffix is kept raw, for
 * normalisePath, so dot segments never climb out of it into the policy's name.
 */
export function parseCheckPath(url: string): CheckPath | undefined {
  const q = url.indexOf('?');
  const m = CHECK.exec(q < 0 ? url : url.slice(0, q));
  if (!m?.[1] || !m[2]) return undefined;
  const suffix = m[3];
  if (suffix === undefined) return { namespace: m[1], name: m[2] };
  return { namespace: m[1], name: m[2], target: q < 0 ? suffix : `${suffix}${url.slice(q)}` };
}

export type NormalisedPath = { ok: true; path: string } | { ok: false; why: string };

// An encoded '/', '\' or NUL, and '%25' (a second layer), before decoding.
const AMBIGUOUS_RAW = /%(2f|5c|00|25)/i;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f\\]/;

/** The request target's path, decoded once, with `.`, `..` and empty segments resolved. */
export function normalisePath(target: string): NormalisedPath {
  if (target.length > MAX_URI_LENGTH) return { ok: false, why: `the URI is longer than ${MAX_URI_LENGTH} characters` };
  const raw = target.split(/[?#]/, 1)[0] ?? '';
  if (!raw.startsWith('/')) return { ok: false, why: 'the path does not start with /' };
  if (AMBIGUOUS_RAW.test(raw)) return { ok: false, why: 'the path encodes a slash, a backslash, NUL or a percent sign' };
  const out: string[] = [];
  const parts = raw.split('/');
  for (const part of parts) {
    let seg: string;
    try {
      seg = decodeURIComponent(part);
    } catch {
      return { ok: false, why: 'the path has a malformed percent-encoding' };
    }
    if (CONTROL.test(seg)) return { ok: false, why: 'the path has a control character or a backslash' };
    if (seg === '' || seg === '.') continue;
    if (seg === '..') {
      if (out.length === 0) return { ok: false, why: 'the path climbs above the root' };
      out.pop();
      continue;
    }
    out.push(seg);
  }
  const last = parts[parts.length - 1];
  const trailing = out.length > 0 && (last === '' || last === '.' || last === '..');
  return { ok: true, path: `/${out.join('/')}${trailing ? '/' : ''}` };
}

/** A rule path: exact, or a subtree with a trailing `/*` (the subtree's root included). */
export function pathMatches(pattern: string, path: string): boolean {
  if (pattern === '/*') return true;
  if (pattern.endsWith('/*')) {
    const root = pattern.slice(0, -2);
    return path === root || path.startsWith(`${root}/`);
  }
  return path === pattern;
}

/**
 * The path and query of a request target: an origin-form URI (`/a?b`, Traefik's X-Forwarded-Uri) or an
 * absolute URL (ingress-nginx's X-Original-URL), read without the WHATWG URL parser, which would resolve
 * dot segments itself and hide what the client sent.
 */
export function requestTarget(uriOrUrl: string): string | undefined {
  if (uriOrUrl.startsWith('/')) return uriOrUrl;
  const m = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/[^/?#]*/.exec(uriOrUrl);
  if (!m) return undefined;
  const rest = uriOrUrl.slice(m[0].length);
  return rest.startsWith('/') ? rest : `/${rest}`;
}
