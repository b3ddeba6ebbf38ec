// What each finding of `apisec check` means: one rule per security control (as in status.controls), plus
// the findings about the input as a whole. Used for SARIF rules and help.
import { ControlName } from '../api/v1alpha1.ts';
import { WEIGHTS } from '../compliance/evaluate.ts';

export interface Rule {
  id: string;
  title: string;
  description: string;
  /** GitHub code scanning's security-severity, 0.0–10.0. */
  severity: string;
}

const CONTROLS: Record<ControlName, Omit<Rule, 'id'>> = {
  HTTPSOnly: { title: 'HTTPS only', description: 'The API is served over TLS only: plain HTTP is redirected, and HSTS tells browsers to stay on HTTPS.', severity: '7.5' },
  Authentication: { title: 'Authentication', description: 'Every request must prove who sends it (OIDC, JWT, API key, mTLS or an external endpoint).', severity: '9.0' },
  Authorization: { title: 'Least-privilege authorization', description: 'Requests are denied unless a rule allows the method and path (default Deny).', severity: '7.0' },
  RateLimit: { title: 'Rate limit', description: 'A request rate limit per client protects against brute force and floods.', severity: '7.0' },
  IPAccess: { title: 'Source address allow and deny lists', description: 'Only the declared source ranges may call the API.', severity: '4.0' },
  CORS: { title: 'Cross-origin resource sharing', description: 'Browsers may call the API only from the declared origins.', severity: '4.0' },
  RequestLimits: { title: 'Request limits', description: 'Request bodies are limited in size, and only the declared methods reach the API.', severity: '6.0' },
  WAF: { title: 'Web application firewall', description: 'A web application firewall blocks common attacks (OWASP core rule set).', severity: '5.0' },
  NetworkIsolation: { title: 'Network isolation', description: 'A default-deny NetworkPolicy lets only the ingress controller and declared callers reach the API pods.', severity: '6.5' },
  Logging: { title: 'Access logging', description: 'Access logs are kept for the API.', severity: '3.0' },
};

export const controlRules: Rule[] = ControlName.options.map((id) => ({ id, ...CONTROLS[id] }));

export const inputRules = {
  InvalidPolicy: {
    id: 'InvalidPolicy',
    title: 'Invalid policy',
    description: 'The ApiSecurityPolicy does not pass the schema; the API server refuses it, and the operator would enforce nothing.',
    severity: '8.0',
  },
  TargetProblem: {
    id: 'TargetProblem',
    title: 'Target not protected',
    description: 'A target of the policy is missing from the input, governed by an older policy, or served by a data plane the operator cannot configure.',
    severity: '5.0',
  },
  UncoveredAPI: {
    id: 'UncoveredAPI',
    title: 'API without a policy',
    description: 'An Ingress, or a LoadBalancer or NodePort Service, that no ApiSecurityPolicy targets directly or behind a targeted Ingress.',
    severity: '8.0',
  },
  MinScore: {
    id: 'MinScore',
    title: 'Score below the minimum',
    description: 'The policy scores below --min-score.',
    severity: '5.0',
  },
} as const satisfies Record<string, Rule>;

export const allRules: Rule[] = [...controlRules, ...Object.values(inputRules)];

/** For help texts: "Authentication (20)", in the order of the score weights. */
export const weightsLine = (): string =>
  (Object.entries(WEIGHTS) as [ControlName, number][])
    .sort((a, b) => b[1] - a[1])
    .map(([c, w]) => `${c} ${w}`)
    .join(', ');
