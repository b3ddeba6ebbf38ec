// The status of an ApiSecurityPolicy (apisec.dev/v1alpha1): conditions, one result per control and
// target, targets, generated objects and provenance. Written only by the operator; re-exported by
// v1alpha1.ts, which holds the spec.
import { z } from 'zod';

export const Condition = z
  .object({
    type: z.string().min(1).max(316).describe('Type of condition in CamelCase.'),
    status: z.enum(['True', 'False', 'Unknown']).describe('Status of the condition.'),
    observedGeneration: z.number().int().min(0).optional().describe('The generation this condition was set for.'),
    lastTransitionTime: z.string().describe('When the status last changed.').meta({ format: 'date-time' }),
    reason: z.string().min(1).max(1024).regex(/^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$/).describe('Machine-readable CamelCase reason.'),
    message: z.string().max(32768).describe('Human-readable detail.'),
  })
  .describe('A metav1.Condition.');
export type Condition = z.infer<typeof Condition>;

export const ControlName = z.enum([
  'HTTPSOnly',
  'Authentication',
  'Authorization',
  'RateLimit',
  'IPAccess',
  'CORS',
  'RequestLimits',
  'WAF',
  'NetworkIsolation',
  'Logging',
]);
export type ControlName = z.infer<typeof ControlName>;

export const ControlResult = z
  .object({
    control: ControlName.describe('The security control.'),
    result: z.enum(['Pass', 'Fail', 'Warn', 'NotApplicable']).describe('Outcome of the check.'),
    enforcement: z.enum(['Enforced', 'Audit', 'NotEnforced']).describe('Whether the operator wrote this control to the data plane.'),
    fidelity: z
      .enum(['Exact', 'Approximated', 'Delegated', 'Unsupported'])
      .optional()
      .describe('How faithfully the data plane expresses the control; Delegated: decided by a component the operator does not configure.'),
    target: z.string().max(320).optional().describe('Kind/name the result is about.'),
    message: z.string().max(1024).describe('What was found.'),
    remediation: z.string().max(1024).optional().describe('How to fix a Fail or Warn.'),
  })
  .describe('The result of one security control.');
export type ControlResult = z.infer<typeof ControlResult>;

export const ObjectRef = z
  .object({
    apiVersion: z.string().max(253),
    kind: z.string().max(63),
    name: z.string().max(253),
  })
  .describe('An object the operator generated or wrote to.');

export const TargetStatus = z
  .object({
    kind: z.enum(['Ingress', 'Service', 'HTTPRoute']),
    name: z.string().max(253),
    sectionName: z.string().max(253).optional().describe('The rule of an HTTPRoute the target names.'),
    state: z.enum(['Enforced', 'Audit', 'NotFound', 'Conflicted', 'Unsupported', 'NotProgrammed']).describe('What happened to this target (NotProgrammed: written, but not in its request path, such as an HTTPRoute whose rules do not name the Traefik Middlewares).'),
    provider: z.string().max(63).optional().describe('The data plane chosen for an Ingress.'),
    message: z.string().max(1024).optional(),
  })
  .describe('The state of one target.');

export const ApiSecurityPolicyStatus = z
  .object({
    observedGeneration: z.number().int().min(0).optional().describe('The generation the status was computed for.'),
    conditions: z
      .array(Condition)
      .max(16)
      .optional()
      .describe('Accepted, Enforced, Programmed, Compliant, Conflicted.')
      .meta({ 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['type'] }),
    score: z.number().int().min(0).max(100).optional().describe('Compliance score 0-100 of what is protected now (see docs for weights); 0 in Audit mode.'),
    auditScore: z.number().int().min(0).max(100).optional().describe('Audit mode: the score the policy would have if it were enforced.'),
    violations: z.number().int().min(0).optional().describe('Number of controls that Fail.'),
    controls: z.array(ControlResult).max(64).optional().describe('One result per control and target.'),
    targets: z.array(TargetStatus).max(16).optional().describe('Per-target state.'),
    generated: z.array(ObjectRef).max(64).optional().describe('Objects the operator generated for this policy.'),
    effective: z
      .array(
        z.object({
          field: z.string().max(128).describe('The setting, e.g. rateLimit.rate.'),
          value: z.string().max(1024).describe('Its effective value.'),
          source: z.string().max(320).describe('Who supplied it: ApiSecurityPolicy/<name> or ClusterApiSecurityPolicy/<name>.'),
        }),
      )
      .max(32)
      .optional()
      .describe('Settings shaped by baselines, with the policy that supplied each (present when a baseline selects the namespace).'),
    appliedDigest: z.string().max(64).optional().describe('Digest of what the operator last applied completely; a difference at the same digest is drift.'),
  })
  .describe('Observed state, written by the operator.');
export type ApiSecurityPolicyStatus = z.infer<typeof ApiSecurityPolicyStatus>;
