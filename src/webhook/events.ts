// A pod the webhook admitted without the sidecar (it would have broken the pod) gets a Warning Event
// regarding the policy, besides the warning its creator saw and the annotation on the pod: one per
// policy every 10 minutes, so a ReplicaSet of a hundred such pods makes one Event, not a hundred — and
// neither can whoever reaches the webhook's port (it authenticates no caller; an AdmissionReview is
// answered to anyone) make more by varying the names in its pods: the reason does not make a new key.
// Best effort, as every Event of the operator: a failed write is logged, never retried.
import type { Logger } from 'pino';
import { API_VERSION, KIND } from '../api/v1alpha1.ts';
import type { RecordEvent } from '../controller/deps.ts';
import { inert } from '../render/text.ts';
import { ExpiringMap } from '../util/expiring-map.ts';
import type { ReviewOutcome } from './review.ts';

export const REFUSED_REASON = 'SidecarRefused';
const QUIET_MS = 10 * 60_000;

export class RefusalEvents {
  private readonly recent = new ExpiringMap<true>(1000);
  private readonly record: RecordEvent;
  private readonly log: Logger;
  private readonly now: () => number;

  constructor(opts: { record: RecordEvent; log: Logger; now?: () => number }) {
    this.record = opts.record;
    this.log = opts.log;
    this.now = opts.now ?? Date.now;
  }

  /** Records the Event for a refusal (not again for the same policy for 10 minutes); resolves when written. */
  async note(o: ReviewOutcome): Promise<void> {
    if (o.result !== 'refused' || !o.policy) return;
    const key = `${o.namespace}/${o.policy}`;
    const now = this.now();
    if (this.recent.get(key, now)) return;
    this.recent.set(key, true, now + QUIET_MS);
    const regarding = { apiVersion: API_VERSION, kind: KIND, name: o.policy, namespace: o.namespace, ...(o.policyUid ? { uid: o.policyUid } : {}) };
    // At admission a pod of a workload has only its generateName (shown as name-*); SidecarInjected names it.
    const note = inert(`A pod (${o.pod}) was admitted without the sidecar: ${o.reason ?? ''}. The policy's SidecarInjected condition names it and every other pod without the sidecar; another refusal within 10 minutes makes no new Event`, 1024, true);
    const err = await this.record(regarding, { type: 'Warning', reason: REFUSED_REASON, note, action: 'InjectSidecar' });
    if (err) this.log.warn({ err: err.message, namespace: o.namespace, policy: o.policy }, 'Cannot record the SidecarRefused Event');
  }
}
