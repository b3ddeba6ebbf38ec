// apisec.dev/v1alpha1: the single source of truth for the ApiSecurityPolicy API. The TypeScript types
// and the CRD in crds/ (npm run gen:crds) are both generated from these schemas. Bounds, patterns and
// `x-kubernetes-validations` (CEL) make the API server refuse bad input at the door; the controller parses
// with the same schemas again before it renders anything (validate twice).
import { z } from 'zod';
import * as P from './patterns.ts';
import type { ApiSecurityPolicyStatus } from './status-v1alpha1.ts';
import { RateLimit } from './rate-limit.ts';

export { RateLimit, RATE_LIMIT_STORE_DEFAULT, storeUnavailable } from './rate-limit.ts';

export const GROUP = 'apisec.dev';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;
export const KIND = 'ApiSecurityPolicy';
export const PLURAL = 'apisecuritypolicies';

type Rule = { rule: string; message: string; fieldPath?: string; reason?: string };
const cel = (...rules: Rule[]): { 'x-kubernetes-validations': Rule[] } => ({ 'x-kubernetes-validations': rules });

const OUTBOUND_URL_PATTERNS = new Set([P.URL_PLAIN, P.HTTPS_URL]);

/** A bounded, anchored string; URL fields also get the outbound-URL rules at admission. */
const str = (pattern: string, max: number, description: string): z.ZodString => {
  const s = z.string().min(1).max(max).regex(new RegExp(pattern)).describe(description);
  if (!OUTBOUND_URL_PATTERNS.has(pattern)) return s;
  return s.superRefine((v, ctx) => {
    const refusal = P.outboundURLRefusal(v);
    if (refusal) ctx.addIssue({ code: 'custom', message: refusal });
  }).meta(cel(...P.OUTBOUND_URL_CEL));
};

const name = (description: string): z.ZodString => str(P.DNS_SUBDOMAIN, 253, description);
const headerName = (description: string): z.ZodString => str(P.HEADER_NAME, 64, description);
const cidr = z
  .string()
  .min(3)
  .max(43)
  .regex(new RegExp(P.CIDR))
  .refine(P.isCidr, 'must be an IPv4 or IPv6 CIDR such as 10.0.0.0/8')
  .describe('An IPv4 or IPv6 CIDR, e.g. 10.0.0.0/8 or 2001:db8::/32.')
  .meta(cel({ rule: 'isCIDR(self)', message: 'must be a valid IPv4 or IPv6 CIDR' }));

export const HttpMethod = z
  .enum(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'])
  .describe('An HTTP method.');
export type HttpMethod = z.infer<typeof HttpMethod>;

const methods = (description: string): z.ZodArray<typeof HttpMethod> =>
  z.array(HttpMethod).min(1).max(7).describe(description);


export const LabelSelector = z
  .object({
    matchLabels: z
      .record(z.string().max(317).regex(new RegExp(P.LABEL_KEY)), z.string().max(63).regex(new RegExp(P.LABEL_VALUE)))
      .optional()
      .describe('Labels that must all match.')
      .refine((m) => m === undefined || Object.keys(m).length <= 16, 'at most 16 labels')
      .meta({
        maxProperties: 16,
        'x-kubernetes-validations': [
          { rule: `self.all(k, k.size() <= 317 && k.matches(r'${P.LABEL_KEY}'))`, message: 'label keys must be valid Kubernetes label keys' },
        ],
      }),
    matchExpressions: z
      .array(
        z.object({
          key: z.string().min(1).max(317).regex(new RegExp(P.LABEL_KEY)).describe('The label key.'),
          operator: z.enum(['In', 'NotIn', 'Exists', 'DoesNotExist']).describe('How the key relates to the values.'),
          values: z
            .array(z.string().max(63).regex(new RegExp(P.LABEL_VALUE)))
            .max(32)
            .optional()
            .describe('Values for In and NotIn; empty for Exists and DoesNotExist.'),
        }),
      )
      .max(16)
      .optional()
      .describe('Label expressions that must all match.'),
  })
  .describe('A Kubernetes label selector; an empty selector selects everything.');

/** The API group of each target kind. */
const TARGET_GROUPS = { Ingress: 'networking.k8s.io', Service: '', HTTPRoute: 'gateway.networking.k8s.io' } as const;

export const TargetRef = z
  .object({
    group: z.enum(['networking.k8s.io', '', 'gateway.networking.k8s.io']).describe('API group of the target: networking.k8s.io for Ingress, "" for Service, gateway.networking.k8s.io for HTTPRoute.'),
    kind: z.enum(['Ingress', 'Service', 'HTTPRoute']).describe('Kind of the target.'),
    name: name('Name of the target, in the policy\'s namespace.'),
    sectionName: name('One rule of an HTTPRoute, by its name (Gateway API policy attachment); only for HTTPRoute.').optional(),
  })
  .describe('A target in the same namespace as the policy (policy attachment).')
  .meta(
    cel(
      {
        rule: "self.kind == 'Ingress' ? self.group == 'networking.k8s.io' : self.kind == 'Service' ? self.group == '' : self.group == 'gateway.networking.k8s.io'",
        message: 'Ingress lives in group networking.k8s.io, Service in the core group "", HTTPRoute in gateway.networking.k8s.io',
      },
      { rule: "!has(self.sectionName) || self.kind == 'HTTPRoute'", message: 'sectionName names a rule of an HTTPRoute' },
    ),
  )
  .refine((t) => t.group === TARGET_GROUPS[t.kind], {
    message: 'Ingress lives in group networking.k8s.io, Service in the core group "", HTTPRoute in gateway.networking.k8s.io',
    path: ['group'],
  })
  .refine((t) => t.sectionName === undefined || t.kind === 'HTTPRoute', { message: 'sectionName names a rule of an HTTPRoute', path: ['sectionName'] });
export type TargetRef = z.infer<typeof TargetRef>;

export const Tls = z
  .object({
    httpsOnly: z.boolean().default(true).describe('Redirect plain HTTP to HTTPS (308) and serve the API over TLS only.'),
    hsts: z
      .object({
        maxAgeSeconds: z.number().int().min(0).max(63072000).default(31536000).describe('Strict-Transport-Security max-age in seconds (at most two years).'),
        includeSubDomains: z.boolean().default(false).describe('Add includeSubDomains to the HSTS header.'),
        preload: z.boolean().default(false).describe('Add preload to the HSTS header.'),
      })
      .optional()
      .describe('HTTP Strict Transport Security.'),
  })
  .describe('Transport security.');

const claimHeaders = z
  .array(
    z.object({
      claim: str(P.CLAIM, 64, 'A top-level claim of the token, e.g. email or tenant.'),
      header: headerName('The request header the upstream receives it in; must start with X-Auth- and not be X-Auth-Subject, -Scopes or -Client.')
        .refine((h) => h.toLowerCase().startsWith('x-auth-') && !P.GUARD_HEADERS.includes(h.toLowerCase()), 'must start with X-Auth- and not be X-Auth-Subject, X-Auth-Scopes or X-Auth-Client')
        .meta(cel({ rule: `self.lowerAscii().startsWith('x-auth-') && !(self.lowerAscii() in [${P.GUARD_HEADERS.map((h) => `'${h}'`).join(', ')}])`, message: 'must start with X-Auth- and not be X-Auth-Subject, X-Auth-Scopes or X-Auth-Client' })),
    }),
  )
  .max(8)
  .optional()
  .describe('Claims the apisec guard copies into request headers for the upstream (strings as they are, numbers and booleans as text, arrays of strings joined by commas); a client\'s own header of that name never reaches the upstream.');

const Oidc = z
  .object({
    issuerURL: str(P.HTTPS_URL, 512, 'The OpenID Connect issuer (https).'),
    audiences: z.array(str(P.SCOPE, 128, 'An accepted audience.')).max(16).optional().describe('Accepted token audiences.'),
    authURL: str(P.URL_PLAIN, 512, 'Endpoint of an authenticating proxy (e.g. oauth2-proxy /oauth2/auth) the data plane asks for every request; 2xx lets the request through, 401/403 is returned to the client. Without it the data plane asks the apisec guard, which validates bearer tokens against the keys of the issuer\'s discovery document.').optional(),
    signinURL: str(P.URL_PLAIN, 512, 'Where browsers are sent to sign in when the proxy answers 401.').optional(),
    claimHeaders,
  })
  .describe('OpenID Connect bearer tokens: validated by the apisec guard, or by an authenticating proxy (such as oauth2-proxy) that the user runs (authURL).');

const Jwt = z
  .object({
    issuer: str(P.URL_PLAIN, 512, 'Expected iss claim.'),
    jwksURI: str(P.HTTPS_URL, 512, 'Where the signing keys are published.'),
    audiences: z.array(str(P.SCOPE, 128, 'An accepted audience.')).max(16).optional().describe('Accepted aud values.'),
    authURL: str(P.URL_PLAIN, 512, 'Token-validating endpoint the data plane asks for every request (external auth). Without it the data plane asks the apisec guard.').optional(),
    claimHeaders,
  })
  .describe('Bearer JWTs: validated by the apisec guard (issuer, audiences, expiry, signature by a key from jwksURI), or by an endpoint of the user\'s (authURL).');

const ApiKey = z
  .object({
    header: headerName('Header that carries the key.').default('X-API-Key'),
    authURL: str(P.URL_PLAIN, 512, 'Endpoint that validates the key (external auth).').optional(),
    secretRef: z
      .object({ name: name('Name of a Secret in the policy\'s namespace, labelled apisec.dev/api-keys: "true"; each data entry is one client\'s key, the entry\'s name the client id.') })
      .optional()
      .describe('The keys the apisec guard accepts (used when authURL is not set).'),
  })
  .describe('API keys in a request header: checked by the apisec guard against a Secret (secretRef), or by an endpoint of the user\'s (authURL).')
  .meta(cel({ rule: 'has(self.authURL) != has(self.secretRef)', message: 'set exactly one of authURL and secretRef' }))
  .refine((k) => (k.authURL === undefined) !== (k.secretRef === undefined), 'set exactly one of authURL and secretRef');

const Mtls = z
  .object({
    caSecretRef: name('Secret (namespace/name not allowed: same namespace) holding ca.crt used to verify client certificates; it must be labelled apisec.dev/client-ca: "true", else the policy is not accepted (ClientCANotLabelled).'),
    verifyDepth: z.number().int().min(1).max(10).default(1).describe('Maximum client certificate chain depth.'),
    passCertificateToUpstream: z.boolean().default(false).describe('Forward the verified client certificate to the API.'),
  })
  .describe('Mutual TLS: clients must present a certificate signed by the CA.');

const External = z
  .object({
    authURL: str(P.URL_PLAIN, 512, 'External authorization endpoint; 2xx allows the request.'),
    responseHeaders: z
      .array(
        headerName('A header to copy from the auth response to the upstream request; never Host, credentials, cookies or a hop-by-hop header.')
          .refine((h) => !P.FORBIDDEN_RESPONSE_HEADERS.includes(h.toLowerCase()), 'must not be Host, Authorization, Cookie, Set-Cookie or a hop-by-hop header')
          .meta(cel({ rule: `!(self.lowerAscii() in [${P.FORBIDDEN_RESPONSE_HEADERS.map((h) => `'${h}'`).join(', ')}])`, message: 'must not be Host, Authorization, Cookie, Set-Cookie or a hop-by-hop header' })),
      )
      .max(16)
      .optional()
      .describe('Headers copied from the auth response to the request.'),
  })
  .describe('A generic external authentication/authorization endpoint.');

const authMethods = ['oidc', 'jwt', 'apiKey', 'mtls', 'external'] as const;
export const Authentication = z
  .object({
    oidc: Oidc.optional(),
    jwt: Jwt.optional(),
    apiKey: ApiKey.optional(),
    mtls: Mtls.optional(),
    external: External.optional(),
  })
  .describe('How clients prove who they are. Exactly one method.')
  .meta(cel({ rule: `[${authMethods.map((m) => `has(self.${m})`).join(', ')}].filter(x, x).size() == 1`, message: 'set exactly one of oidc, jwt, apiKey, mtls, external' }))
  .refine((a) => authMethods.filter((m) => a[m] !== undefined).length === 1, 'set exactly one of oidc, jwt, apiKey, mtls, external');

const AuthorizationRule = z
  .object({
    methods: methods('Methods this rule allows.'),
    paths: z.array(str(P.URL_PATH, 256, 'A path; a trailing /* matches a subtree.')).min(1).max(32).describe('Paths this rule allows.'),
    requireScopes: z.array(str(P.SCOPE, 128, 'An OAuth scope.')).max(16).optional().describe('Scopes the caller\'s token must carry (in scope or scp); checked by the apisec guard.'),
    anonymous: z.boolean().optional().describe('Allow these methods and paths without credentials (e.g. a health check); the guard still answers for them.'),
  })
  .describe('One allow rule.')
  .meta(cel({ rule: '!has(self.anonymous) || !self.anonymous || !has(self.requireScopes) || size(self.requireScopes) == 0', message: 'an anonymous rule cannot require scopes' }))
  .refine((r) => !r.anonymous || !r.requireScopes?.length, { message: 'an anonymous rule cannot require scopes', path: ['requireScopes'] });

const Authorization = z
  .object({
    defaultAction: z.enum(['Allow', 'Deny']).default('Deny').describe('What happens to requests that no rule allows. Deny is least privilege.'),
    rules: z.array(AuthorizationRule).max(64).default([]).describe('Allow rules, evaluated in order.'),
  })
  .describe('Least-privilege authorization by method and path.');

export const IpAccess = z
  .object({
    allow: z.array(cidr).max(64).optional().describe('Only these source ranges may call the API (403 otherwise).'),
    deny: z.array(cidr).max(64).optional().describe('These source ranges are refused (403).'),
  })
  .describe('Source address allow and deny lists.');

export const Cors = z
  .object({
    allowOrigins: z.array(str(P.ORIGIN, 253, 'An origin, e.g. https://shop.example.com, or *.')).min(1).max(32).describe('Origins allowed to call the API from a browser.'),
    allowMethods: methods('Methods allowed cross-origin.').optional(),
    allowHeaders: z.array(headerName('A request header.')).max(32).optional().describe('Request headers allowed cross-origin.'),
    exposeHeaders: z.array(headerName('A response header.')).max(32).optional().describe('Response headers exposed to the browser.'),
    allowCredentials: z.boolean().default(false).describe('Allow cookies and credentials.'),
    maxAgeSeconds: z.number().int().min(0).max(86400).default(600).describe('How long browsers may cache a preflight answer.'),
  })
  .describe('Cross-origin resource sharing.')
  .meta(cel({ rule: "!(self.allowCredentials && self.allowOrigins.exists(o, o == '*'))", message: 'a wildcard origin cannot be combined with allowCredentials' }))
  .refine((c) => !(c.allowCredentials && c.allowOrigins.includes('*')), { message: 'a wildcard origin cannot be combined with allowCredentials', path: ['allowOrigins'] });

export const RequestLimits = z
  .object({
    maxBodySize: str(P.SIZE, 16, 'Largest request body, e.g. 1Mi (413 above it); at most 64Gi.')
      .refine((v) => (P.sizeToBytes(v) ?? Infinity) <= P.MAX_SIZE_BYTES, 'must be at most 64Gi')
      .meta(cel({ rule: P.SIZE_BOUND_CEL, message: 'must be at most 64Gi' }))
      .optional(),
    allowedMethods: methods('Only these methods reach the API (405 otherwise).').optional(),
    allowedContentTypes: z.array(str(P.MEDIA_TYPE, 128, 'A media type such as application/json.')).max(16).optional().describe('Accepted request content types.'),
  })
  .describe('Input validation by size, method and content type.');

export const Waf = z
  .object({
    enabled: z.boolean().default(true).describe('Turn the web application firewall on.'),
    mode: z.enum(['Block', 'Detect']).default('Block').describe('Block attacks, or only detect and log them.'),
    ruleSet: z.enum(['OWASPCoreRuleSet']).default('OWASPCoreRuleSet').describe('The rule set to load.'),
  })
  .describe('Web application firewall.');

const NetworkPeer = z
  .object({
    ingressController: z.boolean().optional().describe('The pods of the ingress controller serving the target (configured in the operator).'),
    namespaceSelector: LabelSelector.optional(),
    podSelector: LabelSelector.optional(),
    ipBlock: z
      .object({ cidr, except: z.array(cidr).max(16).optional().describe('Ranges inside cidr to exclude.') })
      .optional()
      .describe('Callers by address.'),
  })
  .describe('A caller allowed to reach the API pods.')
  .meta(cel({ rule: 'has(self.ingressController) || has(self.namespaceSelector) || has(self.podSelector) || has(self.ipBlock)', message: 'name at least one kind of caller' }))
  .refine((p) => p.ingressController !== undefined || p.namespaceSelector !== undefined || p.podSelector !== undefined || p.ipBlock !== undefined, 'name at least one kind of caller');

export const Network = z
  .object({
    defaultDeny: z.boolean().default(true).describe('Deny all ingress traffic to the API pods except from allowFrom.'),
    allowFrom: z.array(NetworkPeer).max(32).default([{ ingressController: true }]).describe('Callers allowed to reach the API pods.'),
  })
  .describe('Network isolation of the pods behind the target Services (NetworkPolicy).');

const Sidecar = z
  .object({
    enabled: z.boolean().default(true).describe('Generate a ConfigMap with a complete nginx reverse-proxy config for a sidecar.'),
    port: z.number().int().min(1024).max(65535).default(8080).describe('Port the sidecar listens on.'),
    appPort: z
      .number()
      .int()
      .min(1)
      .max(65535)
      .optional()
      .describe('Port of the application inside the pod (127.0.0.1). Default: resolved for each pod by the injecting webhook from the port the Services send traffic to (the number of the named container port they target, or their numeric targetPort).'),
  })
  .describe('A rate-limiting reverse-proxy sidecar in front of the application.');

export const Logging = z
  .object({
    accessLog: z.boolean().default(true).describe('Keep access logs for the API.'),
    format: z.enum(['JSON']).default('JSON').describe('Access log format.'),
  })
  .describe('Logging and monitoring.');

export const ApiSecurityPolicySpec = z
  .object({
    targetRefs: z.array(TargetRef).min(1).max(16).describe('The Ingresses, Services and HTTPRoutes this policy protects, in its namespace.'),
    mode: z.enum(['Enforce', 'Audit']).default('Enforce').describe('Enforce writes controls; Audit evaluates and reports, changing nothing.'),
    provider: z.enum(['auto', 'ingress-nginx', 'traefik', 'haproxy']).default('auto').describe('The data plane. auto picks it from the Ingress class.'),
    tls: Tls.optional(),
    authentication: Authentication.optional(),
    authorization: Authorization.optional(),
    rateLimit: RateLimit.optional(),
    ipAccess: IpAccess.optional(),
    cors: Cors.optional(),
    requestLimits: RequestLimits.optional(),
    waf: Waf.optional(),
    network: Network.optional(),
    sidecar: Sidecar.optional(),
    logging: Logging.optional(),
  })
  .describe('Desired security controls for one API.');
export type ApiSecurityPolicySpec = z.infer<typeof ApiSecurityPolicySpec>;
export type ApiSecurityPolicySpecInput = z.input<typeof ApiSecurityPolicySpec>;

// ---- status (src/api/status-v1alpha1.ts) ----

export * from './status-v1alpha1.ts';

export interface ApiSecurityPolicy {
  apiVersion: typeof API_VERSION;
  kind: typeof KIND;
  metadata: {
    name: string;
    namespace: string;
    uid?: string;
    generation?: number;
    resourceVersion?: string;
    creationTimestamp?: string;
    deletionTimestamp?: string;
    finalizers?: string[];
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  spec: ApiSecurityPolicySpec;
  status?: ApiSecurityPolicyStatus;
}

/** Parses an untrusted spec; the error message names each failing field path. */
export function parseSpec(spec: unknown): { ok: true; spec: ApiSecurityPolicySpec } | { ok: false; message: string } {
  const res = ApiSecurityPolicySpec.safeParse(spec);
  if (res.success) return { ok: true, spec: res.data };
  return { ok: false, message: formatIssues(res.error.issues) };
}

export function formatIssues(issues: readonly z.core.$ZodIssue[]): string {
  return issues
    .slice(0, 10)
    .map((i) => `spec${i.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('')}: ${i.message}`)
    .join('; ');
}
