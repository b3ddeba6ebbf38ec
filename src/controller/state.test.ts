import type { KubeObject, ManagedFieldsEntry } from '../k8s/resources.ts';
import { annotationsNeedApply, canonical, isSubset, ownedAnnotationKeys } from './state.ts';

const ME = 'api-security-operator';
const NGINX = 'nginx.ingress.kubernetes.io/';

/** A managedFields entry that owns the given annotation keys (as the API server records them). */
const entry = (manager: string, operation: 'Apply' | 'Update', keys: string[], extra: Partial<ManagedFieldsEntry> = {}): ManagedFieldsEntry => ({
  manager,
  operation,
  apiVersion: 'networking.k8s.io/v1',
  fieldsType: 'FieldsV1',
  fieldsV1: {
    'f:metadata': {
      'f:annotations': { '.': {}, ...Object.fromEntries(keys.map((k) => [`f:${k}`, {}])) },
      'f:labels': { 'f:app': {} },
    },
  },
  ...extra,
});

const ingress = (annotations: Record<string, string> | undefined, managedFields: ManagedFieldsEntry[]): KubeObject => ({
  apiVersion: 'networking.k8s.io/v1',
  kind: 'Ingress',
  metadata: { name: 'shop', namespace: 'shop', ...(annotations ? { annotations } : {}), managedFields },
  spec: { ingressClassName: 'nginx' },
});

describe('ownedAnnotationKeys', () => {
  it.each<{ name: string; fields: ManagedFieldsEntry[]; expected: string[] }>([
    { name: 'no managedFields', fields: [], expected: [] },
    {
      name: 'our Apply entry, sorted, without the "." marker',
      fields: [entry(ME, 'Apply', [`${NGINX}limit-rps`, 'apisec.dev/policy', `${NGINX}auth-url`])],
      expected: ['apisec.dev/policy', `${NGINX}auth-url`, `${NGINX}limit-rps`],
    },
    { name: 'our Update entry is not ownership by apply', fields: [entry(ME, 'Update', [`${NGINX}limit-rps`])], expected: [] },
    {
      name: 'other managers are ignored',
      fields: [
        entry('kubectl-client-side-apply', 'Update', ['kubectl.kubernetes.io/last-applied-configuration', `${NGINX}rewrite-target`]),
        entry('team-tool', 'Apply', ['team.example.com/owner']),
        entry(ME, 'Apply', [`${NGINX}limit-rps`]),
      ],
      expected: [`${NGINX}limit-rps`],
    },
    {
      name: 'the status subresource is ignored',
      fields: [entry(ME, 'Apply', ['apisec.dev/policy']), entry(ME, 'Apply', ['from-status'], { subresource: 'status' })],
      expected: ['apisec.dev/policy'],
    },
    {
      name: 'an entry without annotations',
      fields: [{ manager: ME, operation: 'Apply', apiVersion: 'networking.k8s.io/v1', fieldsType: 'FieldsV1', fieldsV1: { 'f:spec': { 'f:rules': {} } } }],
      expected: [],
    },
    { name: 'an entry without fieldsV1', fields: [{ manager: ME, operation: 'Apply' }], expected: [] },
  ])('$name', ({ fields, expected }) => {
    expect(ownedAnnotationKeys(ingress({}, fields), ME)).toEqual(expected);
  });

  it('works without managedFields at all', () => {
    expect(ownedAnnotationKeys({ metadata: { name: 'x' } }, ME)).toEqual([]);
  });
});

describe('annotationsNeedApply', () => {
  const desired = { 'apisec.dev/policy': 'shop-api', [`${NGINX}limit-rps`]: '20' };
  const owned = [entry(ME, 'Apply', Object.keys(desired))];

  it.each<{ name: string; annotations: Record<string, string> | undefined; fields: ManagedFieldsEntry[]; want?: Record<string, string>; expected: boolean }>([
    { name: 'equal and owned', annotations: { ...desired }, fields: owned, expected: false },
    { name: 'equal, plus other managers\' annotations', annotations: { ...desired, 'team.example.com/owner': 'payments' }, fields: [...owned, entry('team-tool', 'Apply', ['team.example.com/owner'])], expected: false },
    { name: 'a value differs', annotations: { ...desired, [`${NGINX}limit-rps`]: '10' }, fields: owned, expected: true },
    { name: 'a desired key is missing', annotations: { 'apisec.dev/policy': 'shop-api' }, fields: owned, expected: true },
    { name: 'no annotations at all', annotations: undefined, fields: [], expected: true },
    {
      name: 'we own a key we no longer want',
      annotations: { ...desired, [`${NGINX}auth-url`]: 'http://a/auth' },
      fields: [entry(ME, 'Apply', [...Object.keys(desired), `${NGINX}auth-url`])],
      expected: true,
    },
    {
      name: 'values match but another manager set them (not owned)',
      annotations: { ...desired },
      fields: [entry('kubectl', 'Update', Object.keys(desired))],
      expected: true,
    },
    { name: 'nothing desired and nothing owned', annotations: { other: 'x' }, fields: [], want: {}, expected: false },
    { name: 'nothing desired but keys still owned', annotations: { ...desired }, fields: owned, want: {}, expected: true },
  ])('$name → $expected', ({ annotations, fields, want, expected }) => {
    expect(annotationsNeedApply(ingress(annotations, fields), ME, want ?? desired)).toBe(expected);
  });
});

describe('isSubset', () => {
  it.each<{ name: string; desired: unknown; actual: unknown; expected: boolean }>([
    { name: 'equal scalars', desired: 'a', actual: 'a', expected: true },
    { name: 'different scalars', desired: 1, actual: '1', expected: false },
    { name: 'null equals null', desired: null, actual: null, expected: true },
    { name: 'null vs object', desired: null, actual: {}, expected: false },
    { name: 'object vs null', desired: {}, actual: null, expected: false },
    { name: 'object vs array', desired: {}, actual: [], expected: false },
    { name: 'object vs scalar', desired: { a: 1 }, actual: 'x', expected: false },
    {
      name: 'server defaults and metadata are ignored',
      desired: { spec: { podSelector: { matchLabels: { app: 'shop' } }, policyTypes: ['Ingress'] } },
      actual: {
        metadata: { uid: 'u', resourceVersion: '42', managedFields: [] },
        spec: { podSelector: { matchLabels: { app: 'shop' } }, policyTypes: ['Ingress'] },
        status: {},
      },
      expected: true,
    },
    {
      name: 'server-defaulted fields inside array elements are ignored',
      desired: { ports: [{ port: 8080 }] },
      actual: { ports: [{ port: 8080, protocol: 'TCP' }] },
      expected: true,
    },
    { name: 'a missing field', desired: { a: 1, b: 2 }, actual: { a: 1 }, expected: false },
    { name: 'a nested difference', desired: { a: { b: { c: 1 } } }, actual: { a: { b: { c: 2, d: 3 } } }, expected: false },
    { name: 'undefined desired fields are ignored', desired: { a: 1, b: undefined }, actual: { a: 1 }, expected: true },
    { name: 'arrays must have the same length (fewer)', desired: { from: [{ a: 1 }] }, actual: { from: [{ a: 1 }, { b: 2 }] }, expected: false },
    { name: 'arrays must have the same length (more)', desired: [1, 2, 3], actual: [1, 2], expected: false },
    { name: 'arrays compare in order', desired: [1, 2], actual: [2, 1], expected: false },
    { name: 'array vs object', desired: [], actual: {}, expected: false },
    { name: 'empty array matches empty array', desired: { ingress: [] }, actual: { ingress: [] }, expected: true },
    { name: 'empty object matches any object', desired: {}, actual: { a: 1 }, expected: true },
  ])('$name → $expected', ({ desired, actual, expected }) => {
    expect(isSubset(desired, actual)).toBe(expected);
  });
});

describe('canonical', () => {
  it.each<{ name: string; a: unknown; b: unknown; equal: boolean }>([
    { name: 'key order does not matter', a: { a: 1, b: 2 }, b: { b: 2, a: 1 }, equal: true },
    { name: 'nested key order does not matter', a: { x: { c: 1, d: [{ f: 1, e: 2 }] } }, b: { x: { d: [{ e: 2, f: 1 }], c: 1 } }, equal: true },
    { name: 'undefined fields are dropped', a: { a: 1, b: undefined }, b: { a: 1 }, equal: true },
    { name: 'array order matters', a: { l: [1, 2] }, b: { l: [2, 1] }, equal: false },
    { name: 'values matter', a: { a: 1 }, b: { a: '1' }, equal: false },
    { name: 'null is kept', a: { a: null }, b: {}, equal: false },
  ])('$name', ({ a, b, equal }) => {
    expect(canonical(a) === canonical(b)).toBe(equal);
  });

  it('produces sorted JSON', () => {
    expect(canonical({ b: 1, a: { d: undefined, c: [3, { z: 1, y: 2 }] } })).toBe('{"a":{"c":[3,{"y":2,"z":1}]},"b":1}');
  });
});
