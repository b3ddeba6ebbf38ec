// One AdmissionReview (admission.k8s.io/v1) in, its answer out (pure): select the policy (select.ts),
// build the patch (patch.ts), and answer `allowed: true` always — the webhook only adds, it never
// refuses a pod; a pod it leaves alone carries the reason in a warning (shown by kubectl) and an audit
// annotation. Every name in those texts comes from the cluster and is made inert first.
import { inert } from '../render/text.ts';
import { ANNOTATION_REFUSED, REFUSED_MAX } from '../compliance/injection.ts';
import { annotationOps, injectSidecar, type Injection, type JsonPatchOp, type PodLike } from './patch.ts';
import { selectPolicy, type SelectInput, type Selection } from './select.ts';

export const ADMISSION_API_VERSION = 'admission.k8s.io/v1';
/** Where the API server calls the webhook (the chart's and the tests' configuration). */
export const MUTATE_PATH = '/mutate-pods';
/** Prefix of the audit annotations (the API server adds the webhook configuration's name). */
const AUDIT_KEY = 'sidecar';

export interface AdmissionRequest {
  uid: string;
  kind?: { group?: string; version?: string; kind?: string };
  operation?: string;
  namespace?: string;
  object?: unknown;
}

export interface AdmissionResponse {
  uid: string;
  allowed: true;
  patchType?: 'JSONPatch';
  patch?: string;
  warnings?: string[];
  auditAnnotations?: Record<string, string>;
}

export interface AdmissionReviewOut {
  apiVersion: typeof ADMISSION_API_VERSION;
  kind: 'AdmissionReview';
  response: AdmissionResponse;
}

/** What the caches say about the pod's namespace, asked once its name is known. */
export interface ReviewContext {
  operatorNamespace: string;
  image: string;
  /** Native sidecars (an init container with restartPolicy Always); false before Kubernetes 1.29. */
  native?: boolean;
  /** The digest of a policy's sidecar ConfigMap as cached now, if it is there. */
  configDigest?(namespace: string, policy: { name: string; uid?: string | undefined }): string | undefined;
  namespace(name: string): Pick<SelectInput, 'namespaceLabels' | 'policies' | 'lookup'>;
}

/** What happened to one pod, for the log and the metrics. */
export interface ReviewOutcome {
  namespace: string;
  pod: string;
  /** injected, skipped (not for this pod), refused (would break the pod: admitted without), not-ready (caches not synced). */
  result: 'injected' | 'skipped' | 'refused' | 'not-ready';
  policy?: string;
  policyUid?: string | undefined;
  reason?: string;
  manual?: string[];
}

export class BadReview extends Error {}

/** The request of an AdmissionReview body; throws BadReview for anything else. */
export function admissionRequest(body: unknown): AdmissionRequest {
  const review = body as { apiVersion?: unknown; kind?: unknown; request?: { uid?: unknown } } | null;
  if (review?.apiVersion !== ADMISSION_API_VERSION || review.kind !== 'AdmissionReview') throw new BadReview(`expected an ${ADMISSION_API_VERSION} AdmissionReview`);
  if (typeof review.request?.uid !== 'string' || review.request.uid === '') throw new BadReview('the AdmissionReview has no request.uid');
  return review.request as AdmissionRequest;
}

const clip = (s: string): string => inert(s, 512, true);
const podName = (pod: PodLike): string => pod.metadata?.name ?? (pod.metadata?.generateName ? `${pod.metadata.generateName}*` : '(unnamed)');

function answer(uid: string, response: Omit<AdmissionResponse, 'uid' | 'allowed'>): AdmissionReviewOut {
  return { apiVersion: ADMISSION_API_VERSION, kind: 'AdmissionReview', response: { uid, allowed: true, ...response } };
}

function decide(request: AdmissionRequest, ctx: ReviewContext): { selection: Selection; injection?: Injection; pod: PodLike; namespace: string } {
  const pod = (request.object ?? {}) as PodLike;
  const namespace = request.namespace ?? pod.metadata?.namespace ?? '';
  if (request.kind?.kind !== 'Pod' || (request.kind.group ?? '') !== '' || request.operation !== 'CREATE') {
    return { pod, namespace, selection: { inject: false, reason: 'only the creation of a Pod is mutated' } };
  }
  const selection = selectPolicy({ namespace, operatorNamespace: ctx.operatorNamespace, pod: { labels: pod.metadata?.labels }, ...ctx.namespace(namespace) });
  if (!selection.inject) return { pod, namespace, selection };
  const { sidecar } = selection;
  const injection = injectSidecar(pod, { policy: selection.policy.name, image: ctx.image, port: sidecar.port, appPort: sidecar.appPort, services: selection.services, native: ctx.native ?? true, configDigest: ctx.configDigest?.(namespace, selection.policy) });
  return { pod, namespace, selection, injection };
}

/** The answer to one request, and what it did. */
export function review(request: AdmissionRequest, ctx: ReviewContext): { out: AdmissionReviewOut; outcome: ReviewOutcome } {
  const { pod, namespace, selection, injection } = decide(request, ctx);
  const base = { namespace, pod: podName(pod) };
  if (!selection.inject) return { out: answer(request.uid, {}), outcome: { ...base, result: 'skipped', reason: clip(selection.reason) } };
  const policy = selection.policy.name;
  if (!injection?.changed) {
    const reason = clip(injection?.reason ?? 'no change');
    if (injection?.alreadyInjected) return { out: answer(request.uid, {}), outcome: { ...base, result: 'skipped', policy, reason } };
    const warning = clip(`apisec: no sidecar of policy ${policy}: ${reason}`);
    // The spec is left as it is; the reason goes on the pod, where the policy's SidecarInjected reads it.
    const note = annotationOps(pod, { [ANNOTATION_REFUSED]: reason.slice(0, REFUSED_MAX) });
    return {
      out: answer(request.uid, { patchType: 'JSONPatch', patch: Buffer.from(JSON.stringify(note)).toString('base64'), warnings: [warning], auditAnnotations: { [`${AUDIT_KEY}-refused`]: reason } }),
      outcome: { ...base, result: 'refused', policy, policyUid: selection.policy.uid, reason },
    };
  }
  const patch = Buffer.from(JSON.stringify(injection.patch satisfies JsonPatchOp[])).toString('base64');
  if ('annotateOnly' in injection) {
    return { out: answer(request.uid, { patchType: 'JSONPatch', patch }), outcome: { ...base, result: 'skipped', policy, reason: clip(`${injection.reason}: annotated only`) } };
  }
  const manual = injection.manual.map(clip);
  const warnings = manual.map((m) => clip(`apisec: sidecar of policy ${policy} injected, but ${m}`));
  return {
    out: answer(request.uid, { patchType: 'JSONPatch', patch, ...(warnings.length ? { warnings } : {}), auditAnnotations: { [`${AUDIT_KEY}-injected`]: clip(policy) } }),
    outcome: { ...base, result: 'injected', policy, ...(manual.length ? { manual } : {}) },
  };
}
