// Before the operator applies a generated object, the name must be free or the policy's own: an object of
// that name that this policy does not own (no ownerReference with its UID) is someone else's, created by
// hand, by another controller or by a tenant who guessed the name. A forced apply would take it over and
// garbage collection would later delete it with the policy; instead the policy is Conflicted, naming the
// owner, and nothing of it is written.
import type { ConditionInput } from '../compliance/conditions.ts';
import type { KubeObject } from '../k8s/resources.ts';
import { inert } from '../render/text.ts';

export interface ForeignObject {
  kind: string;
  name: string;
  /** Who owns it, for the message. */
  owner: string;
}

type OwnerRef = { kind?: string; name?: string; uid?: string; controller?: boolean };

const refsOf = (obj: KubeObject): OwnerRef[] => ((obj.metadata as { ownerReferences?: OwnerRef[] }).ownerReferences ?? []);

export function isOwnedBy(obj: KubeObject, uid: string): boolean {
  return uid !== '' && refsOf(obj).some((r) => r.uid === uid);
}

/** The owner of a foreign object, as a message names it. */
export function describeOwner(obj: KubeObject): string {
  const ref = refsOf(obj).find((r) => r.controller) ?? refsOf(obj)[0];
  if (!ref) return 'no owner (created outside the operator)';
  return `${inert(ref.kind ?? '?', 63, true)}/${inert(ref.name ?? '?', 253, true)} (uid ${inert(ref.uid ?? '?', 64, true)})`;
}

export interface OwnershipLookup {
  /** The cached object of that kind and name (the caches hold only objects with the operator's labels). */
  cached(kind: string, name: string): KubeObject | undefined;
  /** A read from the API server, for a name the caches do not know; undefined when there is none. */
  get?(kind: string, name: string): Promise<KubeObject | undefined>;
}

/** The planned objects whose name is taken by an object this policy does not own. */
export async function foreignObjects(planned: readonly KubeObject[], uid: string, lookup: OwnershipLookup): Promise<ForeignObject[]> {
  const out: ForeignObject[] = [];
  for (const obj of planned) {
    const kind = obj.kind ?? '';
    const name = obj.metadata.name;
    const current = lookup.cached(kind, name) ?? (await lookup.get?.(kind, name));
    if (current && !isOwnedBy(current, uid)) out.push({ kind, name, owner: describeOwner(current) });
  }
  return out;
}

/** Conditions of a policy whose generated names are taken: Conflicted, and nothing enforced. */
export function foreignConditions(foreign: readonly ForeignObject[]): ConditionInput[] {
  const message = foreign
    .slice(0, 5)
    .map((f) => `${f.kind} ${f.name} already exists and is not this policy's: owned by ${f.owner}`)
    .join('; ');
  return [
    { type: 'Enforced', status: 'False', reason: 'Conflicted', message: `Nothing written: ${message}` },
    { type: 'Conflicted', status: 'True', reason: 'ForeignObject', message },
  ];
}

/** The conditions with `overrides` in place of those of the same type (and the new types appended). */
export function overrideConditions(conditions: readonly ConditionInput[], overrides: readonly ConditionInput[]): ConditionInput[] {
  const types = new Set(overrides.map((c) => c.type));
  return [...conditions.filter((c) => !types.has(c.type)), ...overrides];
}
