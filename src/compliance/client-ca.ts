// mTLS trusts whatever CA a Secret holds. A policy may make a Secret its client CA only with the Secret
// owner's consent, the label apisec.dev/client-ca: "true": otherwise anyone who may write a policy could
// name, say, a ServiceAccount token Secret, whose ca.crt is the cluster CA, and every client holding a
// cluster-issued certificate would pass. Pure: the operator asks its Secret cache, apisec check the files.
import type { ApiSecurityPolicySpec } from '../api/v1alpha1.ts';
import { LABEL_CLIENT_CA } from '../render/labels.ts';

/** What is known of the Secret a policy names: labelled for it, seen without the label, or not seen. */
export type ClientCAState = 'labelled' | 'unlabelled' | 'unknown';

export const CLIENT_CA_REFUSED = 'ClientCANotLabelled';

/** Why the policy may not use its client CA Secret (reason ClientCANotLabelled), or undefined when it may. */
export function clientCARefusal(namespace: string, spec: Pick<ApiSecurityPolicySpec, 'authentication'>, state: (name: string) => ClientCAState): string | undefined {
  const ref = spec.authentication?.mtls?.caSecretRef;
  if (!ref || state(ref) !== 'unlabelled') return undefined;
  // ref and namespace are DNS names (schema-checked): nothing here needs escaping.
  return (
    `spec.authentication.mtls.caSecretRef: Secret ${ref} does not exist or is not labelled ${LABEL_CLIENT_CA}: "true"; ` +
    `its owner consents to make it a client CA with: kubectl label secret ${ref} -n ${namespace} ${LABEL_CLIENT_CA}=true`
  );
}

/** Whether a Secret's labels consent to it being a client CA. */
export const consentsToClientCA = (labels: Record<string, string> | undefined): boolean => labels?.[LABEL_CLIENT_CA] === 'true';
