// The MutatingWebhookConfiguration of the sidecar injection webhook (pure): the chart's template
// renders the same two webhooks (a unit test compares them), the integration tests and the demo
// register it with a URL on 127.0.0.1. Two webhooks because opting in is "the namespace OR the pod":
// one calls for pods of opted-in namespaces (unless the pod opts out), the other for opted-in pods of
// the other namespaces. Neither ever calls for kube-system or the operator's namespace. Creation only,
// failurePolicy Ignore (an operator outage never blocks a pod; the compliance side reports what went
// without), reinvocationPolicy IfNeeded (a later webhook's change gets another look; the patch is
// idempotent), no side effects.
import { ALWAYS_EXCLUDED, INJECT_DISABLED, INJECT_ENABLED, LABEL_INJECT } from '../compliance/injection.ts';

export type ClientConfig = { url: string; caBundle: string } | { service: { name: string; namespace: string; port: number; path: string }; caBundle: string };

/** The namespace's name label, which the API server sets on every namespace. */
const NAME_LABEL = 'kubernetes.io/metadata.name';
export const WEBHOOK_NAMESPACES = 'namespace.sidecar.apisec.dev';
export const WEBHOOK_PODS = 'pod.sidecar.apisec.dev';

export function webhookConfiguration(opts: { name: string; operatorNamespace: string; clientConfig: ClientConfig; timeoutSeconds?: number }): Record<string, unknown> {
  const never = { key: NAME_LABEL, operator: 'NotIn', values: [...ALWAYS_EXCLUDED, opts.operatorNamespace] };
  const common = {
    clientConfig: opts.clientConfig,
    rules: [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'], scope: 'Namespaced' }],
    failurePolicy: 'Ignore',
    matchPolicy: 'Equivalent',
    reinvocationPolicy: 'IfNeeded',
    sideEffects: 'None',
    admissionReviewVersions: ['v1'],
    timeoutSeconds: opts.timeoutSeconds ?? 5,
  };
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
    metadata: { name: opts.name },
    webhooks: [
      {
        name: WEBHOOK_NAMESPACES,
        ...common,
        namespaceSelector: { matchExpressions: [{ key: LABEL_INJECT, operator: 'In', values: [INJECT_ENABLED] }, never] },
        objectSelector: { matchExpressions: [{ key: LABEL_INJECT, operator: 'NotIn', values: [INJECT_DISABLED] }] },
      },
      {
        name: WEBHOOK_PODS,
        ...common,
        namespaceSelector: { matchExpressions: [{ key: LABEL_INJECT, operator: 'NotIn', values: [INJECT_ENABLED] }, never] },
        objectSelector: { matchLabels: { [LABEL_INJECT]: INJECT_ENABLED } },
      },
    ],
  };
}
