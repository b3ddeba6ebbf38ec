// Every write the controller makes, all by server-side apply under one field manager:
// - owned objects (NetworkPolicy, ConfigMap): the whole desired object, force;
// - foreign objects (Ingress): only the operator's annotation keys; keys it stops sending are removed
//   by the API server, and other managers' keys are never touched;
// - the policy's finalizer and status, each as its own apply.
import type { KubeClient } from './client.ts';
import { FIELD_MANAGER } from './client.ts';
import { isNotFound } from './errors.ts';
import { apiVersionOf, objectPath, toMicroTime, type KubeObject, type ResourceType } from './resources.ts';
import { inert } from '../render/text.ts';

const APPLY = 'application/apply-patch+yaml';

/** An object by namespace and name; the uid, when given, is a precondition (a re-created object is not touched). */
export interface ObjectRef {
  namespace: string;
  name: string;
  uid?: string | undefined;
}

/** The object an Event is about. */
export interface Regarding {
  apiVersion: string;
  kind: string;
  name: string;
  namespace: string;
  uid?: string;
}

/** What an Event says: its type, a CamelCase reason, a note for people and the action it concerns. */
export interface EventNote {
  type: 'Normal' | 'Warning';
  reason: string;
  note: string;
  action: string;
  /** Labels on the Event, for a reader that selects by them. */
  labels?: Record<string, string>;
}

export class Writer {
  private readonly client: KubeClient;
  private readonly instance: string;

  constructor(client: KubeClient, instance = 'api-security-operator') {
    this.client = client;
    this.instance = instance.slice(0, 128);
  }

  /** Applies a whole object the operator owns. */
  async applyOwned<T extends KubeObject>(r: ResourceType, obj: T): Promise<T> {
    return this.client.request<T>('PATCH', objectPath(r, obj.metadata.namespace, obj.metadata.name), {
      verb: 'patch',
      query: { fieldManager: FIELD_MANAGER, force: true },
      body: { ...obj, apiVersion: apiVersionOf(r), kind: r.kind },
      contentType: APPLY,
    });
  }

  /**
   * Applies exactly `annotations` as the operator's set on a foreign object. An empty set releases
   * every key the operator owned; keys of other managers are never part of the request. Without
   * `force` the API server refuses (409) a key another manager owns with another value; `force` is for
   * repairing the operator's own keys after someone changed them.
   */
  async applyAnnotations(r: ResourceType, { namespace, name }: ObjectRef, annotations: Record<string, string>, { force }: { force: boolean }): Promise<KubeObject> {
    return this.client.request<KubeObject>('PATCH', objectPath(r, namespace, name), {
      verb: 'patch',
      query: { fieldManager: FIELD_MANAGER, ...(force ? { force: true } : {}) },
      body: { apiVersion: apiVersionOf(r), kind: r.kind, metadata: { name, namespace, annotations } },
      contentType: APPLY,
    });
  }

  /** Owns (or with [] releases) the operator's finalizer; other finalizers are untouched. */
  async applyFinalizers(r: ResourceType, { namespace, name, uid }: ObjectRef, finalizers: string[]): Promise<void> {
    try {
      await this.client.request('PATCH', objectPath(r, namespace, name), {
        verb: 'patch',
        query: { fieldManager: FIELD_MANAGER, force: true },
        // The uid precondition keeps a re-created object with the same name from being touched.
        body: { apiVersion: apiVersionOf(r), kind: r.kind, metadata: { name, namespace, finalizers, ...(uid ? { uid } : {}) } },
        contentType: APPLY,
      });
    } catch (err) {
      if (!(finalizers.length === 0 && isNotFound(err))) throw err;
    }
  }

  /** Applies the operator's status; returns the object as written (its resourceVersion). */
  async applyStatus(r: ResourceType, namespace: string | undefined, name: string, status: unknown): Promise<KubeObject> {
    return this.client.request<KubeObject>('PATCH', objectPath(r, namespace, name, 'status'), {
      verb: 'patch',
      query: { fieldManager: FIELD_MANAGER, force: true },
      body: { apiVersion: apiVersionOf(r), kind: r.kind, metadata: namespace ? { name, namespace } : { name }, status },
      contentType: APPLY,
    });
  }

  /**
   * Records an events.k8s.io/v1 Event about a policy. Best effort by design: a lost Event must never
   * fail or retry a reconcile, so errors are returned to the caller to log, not thrown.
   */
  async recordEvent(regarding: Regarding, { type, reason, note, action, labels }: EventNote): Promise<Error | undefined> {
    const now = new Date();
    try {
      await this.client.request('POST', `/apis/events.k8s.io/v1/namespaces/${encodeURIComponent(regarding.namespace)}/events`, {
        verb: 'create',
        body: {
          apiVersion: 'events.k8s.io/v1',
          kind: 'Event',
          // Named like client-go's recorder: <object>.<time in hex>, unique per event.
          metadata: { name: `${regarding.name.slice(0, 200)}.${(BigInt(now.getTime()) * 1_000_000n + BigInt(Math.floor(Math.random() * 1e6))).toString(16)}`, namespace: regarding.namespace, ...(labels ? { labels } : {}) },
          eventTime: toMicroTime(now),
          reportingController: 'apisec.dev/api-security-operator',
          reportingInstance: this.instance,
          action,
          reason,
          type,
          note: inert(note, 1024),
          regarding,
        },
      });
      return undefined;
    } catch (err) {
      return err as Error;
    }
  }

  /** Reads one object; undefined when it does not exist. */
  async get<T extends KubeObject>(r: ResourceType, namespace: string, name: string): Promise<T | undefined> {
    try {
      return await this.client.request<T>('GET', objectPath(r, namespace, name), { verb: 'get' });
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  /** Deletes an object; a missing one counts as deleted. */
  async delete(r: ResourceType, namespace: string, name: string, uid?: string): Promise<void> {
    try {
      await this.client.request('DELETE', objectPath(r, namespace, name), {
        verb: 'delete',
        body: { kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy: 'Background', ...(uid ? { preconditions: { uid } } : {}) },
      });
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }
}
