// Generates the CustomResourceDefinition from the zod schemas. zod emits JSON Schema; Kubernetes wants
// a structural OpenAPI v3 subset, so the conversion keeps only the keywords the API server accepts and
// carries our `x-kubernetes-*` metadata through.
import { z } from 'zod';
import { stringify } from 'yaml';
import { CLUSTER_KIND, CLUSTER_PLURAL, ClusterApiSecurityPolicySpec, ClusterApiSecurityPolicyStatus } from './cluster-v1alpha1.ts';
import { API_VERSION, ApiSecurityPolicySpec, ApiSecurityPolicyStatus, GROUP, KIND, PLURAL, VERSION } from './v1alpha1.ts';

type Schema = Record<string, unknown>;

const KEPT = new Set([
  'type',
  'description',
  'properties',
  'required',
  'items',
  'enum',
  'pattern',
  'minLength',
  'maxLength',
  'minimum',
  'maximum',
  'minItems',
  'maxItems',
  'maxProperties',
  'default',
  'format',
  'additionalProperties',
  'nullable',
  'x-kubernetes-validations',
  'x-kubernetes-list-type',
  'x-kubernetes-list-map-keys',
  'x-kubernetes-preserve-unknown-fields',
]);

const SAFE_INT = Number.MAX_SAFE_INTEGER;

/** Converts one zod JSON Schema node into a Kubernetes structural schema node. */
export function toStructural(node: Schema): Schema {
  const out: Schema = {};
  for (const [key, value] of Object.entries(node)) {
    if (!KEPT.has(key)) continue;
    if (key === 'properties') {
      out.properties = Object.fromEntries(
        Object.entries(value as Record<string, Schema>).map(([k, v]) => [k, toStructural(v)]),
      );
    } else if (key === 'items') {
      out.items = toStructural(value as Schema);
    } else if (key === 'additionalProperties') {
      // `false` is zod's strict object: Kubernetes prunes unknown fields instead.
      if (typeof value === 'object' && value !== null) out.additionalProperties = toStructural(value as Schema);
    } else if ((key === 'minimum' || key === 'maximum') && Math.abs(value as number) >= SAFE_INT) {
      // zod's int() adds ±MAX_SAFE_INTEGER bounds: noise in a CRD.
    } else if (key === 'required' && Array.isArray(value)) {
      // zod lists fields with defaults as required in output mode; the API server fills defaults,
      // so only fields without a default are required from the user.
      const props = (node.properties ?? {}) as Record<string, Schema>;
      const req = value.filter((f: string) => props[f]?.default === undefined);
      if (req.length) out.required = req;
    } else {
      out[key] = value;
    }
  }
  if (out.type === undefined && node.const !== undefined) {
    out.type = typeof node.const;
    out.enum = [node.const];
  }
  return out;
}

function jsonSchema(schema: z.ZodType): Schema {
  return z.toJSONSchema(schema, { target: 'openapi-3.0', io: 'input', unrepresentable: 'throw' }) as Schema;
}

interface CrdShape {
  kind: string;
  plural: string;
  scope: 'Namespaced' | 'Cluster';
  shortName: string;
  description: string;
  columns: { name: string; type: string; jsonPath: string }[];
  spec: z.ZodType;
  status: z.ZodType;
}

const condition = (type: string): string => `.status.conditions[?(@.type=="${type}")].status`;
const AGE = { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' };

/** One served, stored version with the status subresource; spec and status from the zod schemas. */
function crdOf(c: CrdShape): Schema {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${c.plural}.${GROUP}`, labels: { 'app.kubernetes.io/name': 'api-security-operator' } },
    spec: {
      group: GROUP,
      scope: c.scope,
      names: { kind: c.kind, listKind: `${c.kind}List`, plural: c.plural, singular: c.kind.toLowerCase(), shortNames: [c.shortName], categories: ['apisec'] },
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: [...c.columns, AGE],
          schema: {
            openAPIV3Schema: {
              description: c.description,
              type: 'object',
              required: ['spec'],
              properties: {
                apiVersion: { type: 'string' },
                kind: { type: 'string' },
                metadata: { type: 'object' },
                spec: toStructural(jsonSchema(c.spec)),
                status: toStructural(jsonSchema(c.status)),
              },
            },
          },
        },
      ],
    },
  };
}

export function apiSecurityPolicyCrd(): Schema {
  return crdOf({
    kind: KIND,
    plural: PLURAL,
    scope: 'Namespaced',
    shortName: 'asp',
    description: `ApiSecurityPolicy (${API_VERSION}) declares the security controls of one API and reports its posture.`,
    columns: [
      { name: 'Mode', type: 'string', jsonPath: '.spec.mode' },
      { name: 'Enforced', type: 'string', jsonPath: condition('Enforced') },
      { name: 'Compliant', type: 'string', jsonPath: condition('Compliant') },
      { name: 'Score', type: 'integer', jsonPath: '.status.score' },
      { name: 'Violations', type: 'integer', jsonPath: '.status.violations' },
    ],
    spec: ApiSecurityPolicySpec,
    status: ApiSecurityPolicyStatus,
  });
}

export function clusterApiSecurityPolicyCrd(): Schema {
  return crdOf({
    kind: CLUSTER_KIND,
    plural: CLUSTER_PLURAL,
    scope: 'Cluster',
    shortName: 'casp',
    description: `ClusterApiSecurityPolicy (${API_VERSION}) sets baseline floors for the APIs of the namespaces it selects.`,
    columns: [
      { name: 'Ready', type: 'string', jsonPath: condition('Ready') },
      { name: 'Namespaces', type: 'integer', jsonPath: '.status.selectedNamespaces' },
      { name: 'Policies', type: 'integer', jsonPath: '.status.policies' },
      { name: 'Violations', type: 'integer', jsonPath: '.status.violations' },
    ],
    spec: ClusterApiSecurityPolicySpec,
    status: ClusterApiSecurityPolicyStatus,
  });
}

export const CRD_FILES: Record<string, () => Schema> = {
  [`${GROUP}_${PLURAL}.yaml`]: apiSecurityPolicyCrd,
  [`${GROUP}_${CLUSTER_PLURAL}.yaml`]: clusterApiSecurityPolicyCrd,
};

export function renderCrdYaml(make: () => Schema): string {
  return `# Generated from src/api by \`npm run gen:crds\`. Do not edit.\n${stringify(make(), { lineWidth: 0 })}`;
}
