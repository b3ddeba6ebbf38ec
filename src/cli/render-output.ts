// `apisec render`: the objects the operator would write for each policy, as the server-side applies it
// sends — a partial Ingress with only the operator's annotations, and every generated object that
// render() returns (NetworkPolicies today; whatever else it returns tomorrow is printed the same way).
import { stringify } from 'yaml';
import type { Assessed } from './check.ts';
import { at } from './inventory.ts';

export interface WrittenObject {
  /** namespace/name of the policy that writes it. */
  policy: string;
  object: Record<string, unknown>;
}

const isKubeObject = (v: unknown): v is Record<string, unknown> & { metadata: { name: string } } => {
  if (v === null || typeof v !== 'object') return false;
  const o = v as Record<string, unknown>;
  return typeof o.apiVersion === 'string' && typeof o.kind === 'string' && typeof (o.metadata as { name?: unknown } | undefined)?.name === 'string';
};

/** What each policy writes (Enforce mode only: Audit writes nothing), and notes on what it cannot write. */
export function writtenObjects(assessed: Assessed[]): { objects: WrittenObject[]; notes: string[] } {
  const objects: WrittenObject[] = [];
  const notes: string[] = [];
  for (const { policy, spec, assessment } of assessed) {
    const { name, namespace } = policy.object.metadata;
    const ref = `${namespace}/${name}`;
    for (const t of assessment.targets) {
      if (t.state !== 'Enforced' && t.state !== 'Audit') notes.push(`${ref}: ${t.ref.kind} ${t.ref.name} is ${t.state}: ${t.message ?? ''}`.trim());
    }
    if (spec.mode === 'Audit') {
      notes.push(`${ref}: Audit mode, the operator writes nothing (${at(policy.at)})`);
      continue;
    }
    const { rendered } = assessment;
    for (const r of rendered.ingresses) {
      if (!r.plan) continue;
      // Exactly the body of the annotation apply (src/k8s/apply.ts): only the operator's keys.
      objects.push({ policy: ref, object: { apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', metadata: { name: r.ingress, namespace, annotations: r.plan.annotations } } });
    }
    for (const value of Object.values(rendered)) {
      if (!Array.isArray(value)) continue;
      for (const item of value) if (isKubeObject(item)) objects.push({ policy: ref, object: item });
    }
  }
  return { objects, notes };
}

export function formatYaml(objects: WrittenObject[]): string {
  return objects
    // YAML 1.1 quoting ("on", "yes"), so kubectl reads annotation values as strings, not booleans.
    .map(({ policy, object }) => `# from ApiSecurityPolicy ${policy}\n${stringify(object, { version: '1.1', lineWidth: 0, aliasDuplicateObjects: false })}`)
    .join('---\n');
}
