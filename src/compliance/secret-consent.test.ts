// A Secret a policy uses (client CA, API keys) needs its owner's label: the rule, and apisec check applying it
// to the files it reads.
import { check } from '../cli/check.ts';
import { parseDocuments } from '../cli/documents.ts';
import { buildInventory } from '../cli/inventory.ts';
import { defaultSettings } from '../render/types.ts';
import { API_KEYS_USE, CLIENT_CA_USE, consentRefusal, consents, secretRefusal } from './secret-consent.ts';

const mtls = { authentication: { mtls: { caSecretRef: 'ca', verifyDepth: 1, passCertificateToUpstream: false } } };

const apiKeys = { authentication: { apiKey: { header: 'X-Api-Key', secretRef: { name: 'keys' } } } };

describe('consentRefusal', () => {
  it('refuses only a Secret known to lack the label, and says how to consent', () => {
    expect(consentRefusal(CLIENT_CA_USE, 'ns', mtls, () => 'labelled')).toBeUndefined();
    expect(consentRefusal(CLIENT_CA_USE, 'ns', mtls, () => 'unknown')).toBeUndefined();
    expect(consentRefusal(CLIENT_CA_USE, 'ns', {}, () => 'unlabelled')).toBeUndefined();
    expect(consentRefusal(CLIENT_CA_USE, 'ns', mtls, () => 'unlabelled')).toContain('kubectl label secret ca -n ns apisec.dev/client-ca=true');
    expect(consentRefusal(API_KEYS_USE, 'ns', apiKeys, () => 'unlabelled')).toBe(
      'spec.authentication.apiKey.secretRef: Secret keys does not exist or is not labelled apisec.dev/api-keys: "true"; its owner consents to make it a set of API keys with: kubectl label secret keys -n ns apisec.dev/api-keys=true',
    );
  });

  it('secretRefusal names the use whose label is missing', () => {
    expect(secretRefusal('ns', apiKeys, (use) => (use === API_KEYS_USE ? 'unlabelled' : 'labelled'))).toMatchObject({ reason: 'ApiKeysNotLabelled' });
    expect(secretRefusal('ns', mtls, () => 'unlabelled')).toMatchObject({ reason: 'ClientCANotLabelled' });
    expect(secretRefusal('ns', apiKeys, () => 'labelled')).toBeUndefined();
  });

  it('consent is the label with the value "true", nothing else', () => {
    expect(consents(CLIENT_CA_USE, { 'apisec.dev/client-ca': 'true' })).toBe(true);
    expect(consents(API_KEYS_USE, { 'apisec.dev/client-ca': 'true' })).toBe(false);
    for (const labels of [undefined, {}, { 'apisec.dev/client-ca': 'false' }, { 'apisec.dev/client-ca': 'True' }] as (Record<string, string> | undefined)[]) expect(consents(CLIENT_CA_USE, labels)).toBe(false);
  });
});

describe('apisec check on mTLS policies', () => {
  const policy = `apiVersion: apisec.dev/v1alpha1
kind: ApiSecurityPolicy
metadata: { name: p, namespace: ns }
spec:
  targetRefs: [{ group: networking.k8s.io, kind: Ingress, name: web }]
  authentication:
    mtls: { caSecretRef: ca }
`;
  const secret = (labels: string): string => `---\napiVersion: v1\nkind: Secret\nmetadata: { name: ca, namespace: ns${labels} }\nstringData: { ca.crt: "SECRET-CONTENT" }\n`;
  const run = (text: string) => check(buildInventory(parseDocuments({ file: 'in.yaml', text }), 'default'), defaultSettings);

  it('refuses the policy, at the caSecretRef line, when the files hold the Secret without the label', () => {
    const r = run(policy + secret(''));
    expect(r.errors).toEqual([expect.objectContaining({ name: 'p', reason: 'ClientCANotLabelled', at: { file: 'in.yaml', line: 7 } })]);
    expect(JSON.stringify(r)).not.toContain('SECRET-CONTENT');
  });

  it('assesses it when the Secret is labelled, or not in the files (only the cluster knows)', () => {
    expect(run(policy + secret(', labels: { apisec.dev/client-ca: "true" }')).errors).toEqual([]);
    expect(run(policy).errors).toEqual([]);
  });

  it('keeps nothing of a Secret but its name and labels', () => {
    const inv = buildInventory(parseDocuments({ file: 'in.yaml', text: secret('') }), 'default');
    expect(inv.secrets.map((s) => s.object)).toEqual([{ metadata: { name: 'ca', namespace: 'ns' } }]);
  });
});
