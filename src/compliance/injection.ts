// Sidecar injection, the rule both sides share (pure): which pods ask for the sidecar (the opt-in label
// on the pod or its namespace, never kube-system or the operator's namespace), which Services select a
// pod, and — for a policy's status — which pods that should carry its sidecar do not. The webhook
// (src/webhook/select.ts) injects by this rule; the policy reconciler reports by it, so a pod admitted
// while the webhook was down (failurePolicy Ignore) or refused by it is visible, not silent.
import type { ServiceLike } from '../render/types.ts';
import { codeUnitOrder } from '../util/order.ts';

/** The opt-in label, on a namespace or on a pod (template): `enabled`; on a pod, `disabled` opts out. */
export const LABEL_INJECT = 'apisec.dev/inject';
export const INJECT_ENABLED = 'enabled';
export const INJECT_DISABLED = 'disabled';
/** Never injected, whatever their labels say. */
export const ALWAYS_EXCLUDED = ['kube-system'] as const;
/** Set by the webhook on every pod it injected (or found injected): the policy whose sidecar it carries. */
export const ANNOTATION_INJECTED = 'apisec.dev/sidecar-injected';
/** Set by the webhook on a pod it admitted without the sidecar because the sidecar would break it: why. */
export const ANNOTATION_REFUSED = 'apisec.dev/sidecar-refused';
/** Set by the webhook on a pod it injected: the digest of the policy's sidecar ConfigMap nginx started with. */
export const ANNOTATION_CONFIG = 'apisec.dev/sidecar-config';
/**
 * Set by the webhook on a pod whose sidecar reloads a changed ConfigMap in place (every this often, e.g.
 * `5s`); pods without it (injected by an older operator) read nginx.conf only at start.
 */
export const ANNOTATION_RELOAD = 'apisec.dev/sidecar-reload';
/** The longest reason the annotation keeps. */
export const REFUSED_MAX = 256;

export interface OptInInput {
  namespace: string;
  /** The namespace's labels (undefined: not in the cache). */
  namespaceLabels: Record<string, string> | undefined;
  /** The operator's own namespace: never injected. */
  operatorNamespace: string;
  pod: { labels?: Record<string, string> | undefined };
}

/** Whether the pod (or its namespace) asked for the sidecar; the reason when it did not. */
export function optedIn(input: OptInInput): { ok: true } | { ok: false; reason: string } {
  const { namespace } = input;
  if ((ALWAYS_EXCLUDED as readonly string[]).includes(namespace)) return { ok: false, reason: `namespace ${namespace} is never injected` };
  if (namespace === input.operatorNamespace) return { ok: false, reason: `namespace ${namespace} is the operator's own and never injected` };
  const own = input.pod.labels?.[LABEL_INJECT];
  if (own === INJECT_DISABLED) return { ok: false, reason: `the pod opted out (${LABEL_INJECT}=${INJECT_DISABLED})` };
  if (own === INJECT_ENABLED || input.namespaceLabels?.[LABEL_INJECT] === INJECT_ENABLED) return { ok: true };
  return { ok: false, reason: `neither the pod nor namespace ${namespace} has ${LABEL_INJECT}=${INJECT_ENABLED}` };
}

/** A Service selects the pod when its selector is not empty and every pair matches the pod's labels. */
export function selects(svc: ServiceLike, labels: Record<string, string> | undefined): boolean {
  const selector = Object.entries(svc.spec?.selector ?? {});
  return selector.length > 0 && selector.every(([k, v]) => labels?.[k] === v);
}

/** What the reconciler knows of a pod: its metadata only (a metadata-only watch). */
export interface PodMeta {
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string>; deletionTimestamp?: string };
}

export interface CoverageInput extends Omit<OptInInput, 'pod'> {
  policy: string;
  /** The Services behind the policy's targets. */
  services: readonly ServiceLike[];
  /** The pods of the namespace. */
  pods: readonly PodMeta[];
  /** The digest of the policy's sidecar ConfigMap now (ANNOTATION_CONFIG), when it is known. */
  configDigest?: string | undefined;
}

/** The opted-in pods behind the Services, and those of them without this policy's sidecar: the name, and why when the webhook refused it. */
export function sidecarCoverage(input: CoverageInput): SidecarCoverage {
  let expected = 0;
  const missing: string[] = [];
  const stale: string[] = [];
  const reloading: string[] = [];
  for (const pod of input.pods) {
    if (pod.metadata.deletionTimestamp || !input.services.some((s) => selects(s, pod.metadata.labels))) continue;
    if (!optedIn({ ...input, pod: pod.metadata }).ok) continue;
    expected++;
    const annotations = pod.metadata.annotations;
    if (annotations?.[ANNOTATION_INJECTED] === input.policy) {
      // Started with another nginx.conf than the one now in the ConfigMap: reloaded in place by a current
      // sidecar, read only at start by an older one.
      const started = annotations[ANNOTATION_CONFIG];
      if (started !== undefined && input.configDigest !== undefined && started !== input.configDigest) (annotations[ANNOTATION_RELOAD] ? reloading : stale).push(pod.metadata.name);
      continue;
    }
    const refused = annotations?.[ANNOTATION_REFUSED];
    missing.push(refused ? `${pod.metadata.name} (refused: ${refused.slice(0, REFUSED_MAX)})` : pod.metadata.name);
  }
  return { expected, missing: missing.sort(codeUnitOrder), stale: stale.sort(codeUnitOrder), reloading: reloading.sort(codeUnitOrder) };
}

export interface SidecarCoverage {
  expected: number;
  missing: string[];
  /** Pods with the sidecar whose nginx started with an older config than the ConfigMap holds now. */
  stale: string[];
  /** Pods with the sidecar that started with an older config and reload the current one in place. */
  reloading: string[];
}
