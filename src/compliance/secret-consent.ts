// A policy may make a Secret of its namespace serve as something only with the Secret owner's consent,
// a label on the Secret: otherwise anyone who may write a policy could name a Secret they cannot read.
//   - apisec.dev/client-ca: "true" for mtls.caSecretRef: mTLS trusts whatever CA the Secret holds, and a
//     ServiceAccount token Secret's ca.crt is the cluster CA, so every client holding a cluster-issued
//     certificate would pass.
//   - apisec.dev/api-keys: "true" for apiKey.secretRef: each entry becomes a valid API key, and the data
//     plane (the guard, Envoy Gateway's apiKeyAuth) answers 200 or 401 per guess: an oracle on any Secret.
// Pure: the operator asks its label-selected Secret caches (metadata only), apisec check the files.
import type { ApiSecurityPolicySpec } from '../api/v1alpha1.ts';
import { LABEL_API_KEYS, LABEL_CLIENT_CA } from '../render/labels.ts';

/** What is known of the Secret a policy names: labelled for the use, seen without the label, or not seen. */
export type ConsentState = 'labelled' | 'unlabelled' | 'unknown';

type Spec = Pick<ApiSecurityPolicySpec, 'authentication'>;

/** One use of a Secret by a policy, and the label that consents to it. */
export interface SecretUse {
  field: string;
  label: string;
  /** "to make it <as>" */
  as: string;
  /** The condition reason when the label is missing. */
  reason: string;
  secret(spec: Spec): string | undefined;
}

export const CLIENT_CA_USE: SecretUse = { field: 'spec.authentication.mtls.caSecretRef', label: LABEL_CLIENT_CA, as: 'a client CA', reason: 'ClientCANotLabelled', secret: (s) => s.authentication?.mtls?.caSecretRef };
export const API_KEYS_USE: SecretUse = { field: 'spec.authentication.apiKey.secretRef', label: LABEL_API_KEYS, as: 'a set of API keys', reason: 'ApiKeysNotLabelled', secret: (s) => s.authentication?.apiKey?.secretRef?.name };
export const SECRET_USES: readonly SecretUse[] = [CLIENT_CA_USE, API_KEYS_USE];

/** Why the policy may not use the Secret it names for `use`, or undefined when it may (or it names none). */
export function consentRefusal(use: SecretUse, namespace: string, spec: Spec, state: (name: string) => ConsentState): string | undefined {
  const ref = use.secret(spec);
  if (!ref || state(ref) !== 'unlabelled') return undefined;
  // ref and namespace are DNS names (schema-checked): nothing here needs escaping.
  return `${use.field}: Secret ${ref} does not exist or is not labelled ${use.label}: "true"; its owner consents to make it ${use.as} with: kubectl label secret ${ref} -n ${namespace} ${use.label}=true`;
}

/** The first use the policy may not make of a Secret: its reason and message. */
export function secretRefusal(namespace: string, spec: Spec, state: (use: SecretUse, name: string) => ConsentState): { reason: string; message: string } | undefined {
  for (const use of SECRET_USES) {
    const message = consentRefusal(use, namespace, spec, (name) => state(use, name));
    if (message) return { reason: use.reason, message };
  }
  return undefined;
}

/** Whether a Secret's labels consent to `use`. */
export const consents = (use: SecretUse, labels: Record<string, string> | undefined): boolean => labels?.[use.label] === 'true';
