import { SIDECAR_CONTAINER_NAME, sidecarContainer, sidecarVolumes } from '../render/sidecar-container.ts';
import type { ServiceLike } from '../render/types.ts';
import { manualWiring } from '../render/index.ts';
import { ANNOTATION_INJECTED, SIDECAR_PORT_NAME, applyJsonPatch, injectSidecar, renamedPort, supportsNativeSidecars, type JsonPatchOp, type PodLike } from './patch.ts';
import { BadReview, admissionRequest, review, type ReviewContext } from './review.ts';
import { selectPolicy, type SelectInput } from './select.ts';
import { ANNOTATION_RELOAD, sidecarCoverage } from '../compliance/injection.ts';

const NS = 'shop';
const service = (name: string, targetPort: number | string, selector: Record<string, string> = { app: 'orders' }): ServiceLike => ({
  metadata: { name, namespace: NS },
  spec: { selector, ports: [{ name: 'web', port: 80, targetPort }] },
});
const policy = (name: string, spec: Record<string, unknown>, creationTimestamp = '2026-01-01T00:00:00Z'): SelectInput['policies'][number] => ({
  metadata: { name, namespace: NS, uid: `uid-${name}`, creationTimestamp },
  spec: { targetRefs: [{ group: '', kind: 'Service', name: 'orders' }], sidecar: { port: 8080, appPort: 3000 }, ...spec },
});
const pod = (over: { labels?: Record<string, string>; ports?: { name?: string; containerPort: number }[]; spec?: PodLike['spec'] } = {}): PodLike => ({
  metadata: { generateName: 'orders-', labels: { app: 'orders', ...over.labels } },
  spec: over.spec ?? { containers: [{ name: 'app', ports: over.ports ?? [{ name: 'http', containerPort: 3000 }] }] },
});

function input(over: Partial<SelectInput> & { services?: ServiceLike[] } = {}): SelectInput {
  const services = over.services ?? [service('orders', 'http')];
  return {
    namespace: NS,
    namespaceLabels: { 'apisec.dev/inject': 'enabled' },
    operatorNamespace: 'apisec-system',
    pod: { labels: { app: 'orders' } },
    policies: [policy('orders', {})],
    lookup: { ingress: () => undefined, service: (n) => services.find((s) => s.metadata.name === n) },
    ...over,
  };
}

describe('which pods get a sidecar', () => {
  it.each<[string, Partial<SelectInput>, RegExp]>([
    ['kube-system, whatever its labels', { namespace: 'kube-system' }, /namespace kube-system is never injected/],
    ["the operator's own namespace", { operatorNamespace: NS }, /the operator's own/],
    ['neither pod nor namespace opted in', { namespaceLabels: {} }, /neither the pod nor namespace shop has apisec.dev\/inject=enabled/],
    ['a pod that opted out of its namespace', { pod: { labels: { app: 'orders', 'apisec.dev/inject': 'disabled' } } }, /opted out/],
    ['a Service that does not select the pod', { pod: { labels: { app: 'billing' } } }, /no Service selecting the pod/],
    ['an Audit policy', { policies: [policy('orders', { mode: 'Audit' })] }, /no Service selecting the pod/],
    ['a policy without the sidecar', { policies: [policy('orders', { sidecar: { enabled: false, appPort: 3000 } })] }, /no Service selecting the pod/],
    ['an invalid policy', { policies: [policy('orders', { sidecar: { port: 80, appPort: 3000 } })] }, /no Service selecting the pod/],
    ['a policy being deleted', { policies: [{ ...policy('orders', {}), metadata: { ...policy('orders', {}).metadata, deletionTimestamp: '2026-02-01T00:00:00Z' } }] }, /no Service selecting the pod/],
  ])('not %s', (_what, over, reason) => {
    const s = selectPolicy(input(over));
    expect(s.inject).toBe(false);
    expect(!s.inject && s.reason).toMatch(reason);
  });

  it('a pod label opts in where the namespace did not', () => {
    expect(selectPolicy(input({ namespaceLabels: undefined, pod: { labels: { app: 'orders', 'apisec.dev/inject': 'enabled' } } })).inject).toBe(true);
  });

  it('the governing policy of the Service: the older of two that target it', () => {
    const s = selectPolicy(input({ policies: [policy('young', {}, '2026-03-01T00:00:00Z'), policy('old', {})] }));
    expect(s.inject && s.policy).toEqual({ name: 'old', namespace: NS, uid: 'uid-old' });
  });

  it('the Services behind a target Ingress count too', () => {
    const ingress = { metadata: { name: 'web', namespace: NS }, spec: { defaultBackend: { service: { name: 'orders' } } } };
    const s = selectPolicy(input({ policies: [policy('orders', { targetRefs: [{ group: 'networking.k8s.io', kind: 'Ingress', name: 'web' }] })], lookup: { ingress: () => ingress, service: () => service('orders', 'http') } }));
    expect(s.inject && s.services.map((x) => x.metadata.name)).toEqual(['orders']);
  });

  it('two sidecar policies behind one pod: none, with both named', () => {
    const services = [service('orders', 'http'), service('admin', 'http')];
    const s = selectPolicy(input({ services, policies: [policy('a', {}), policy('b', { targetRefs: [{ group: '', kind: 'Service', name: 'admin' }] })] }));
    expect(!s.inject && s.reason).toMatch(/two policies with a sidecar \(a, b\)/);
  });
});

describe('the patch', () => {
  const opts = { policy: 'orders', image: 'nginx:1.27-alpine', port: 8080, appPort: 3000 };

  it('adds the native sidecar first, its volumes and the annotation, and moves a named target port to it', () => {
    const before = pod({ spec: { containers: [{ name: 'app', ports: [{ name: 'http', containerPort: 3000 }] }], initContainers: [{ name: 'migrate' }], volumes: [{ name: 'data' }] } });
    const r = injectSidecar(before, { ...opts, services: [service('orders', 'http')] });
    if (!r.changed) throw new Error(r.reason);
    const after = applyJsonPatch(before, r.patch);
    expect(after.spec?.initContainers?.map((c) => c.name)).toEqual([SIDECAR_CONTAINER_NAME, 'migrate']);
    expect(after.spec?.initContainers?.[0]).toEqual({ ...sidecarContainer({ image: opts.image, port: 8080, appPort: 3000 }), ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }], restartPolicy: 'Always' });
    expect(after.spec?.containers?.[0]?.ports).toEqual([{ name: 'app-http', containerPort: 3000 }]);
    expect(after.spec?.volumes).toEqual([{ name: 'data' }, ...sidecarVolumes({ name: 'orders' })]);
    expect(after.metadata?.annotations).toEqual({ [ANNOTATION_INJECTED]: 'orders', [ANNOTATION_RELOAD]: '5s' });
    const stamped = injectSidecar(before, { ...opts, services: [service('orders', 'http')], configDigest: '0123abcd' });
    expect(stamped.changed && applyJsonPatch(before, stamped.patch).metadata?.annotations).toEqual({ [ANNOTATION_INJECTED]: 'orders', 'apisec.dev/sidecar-config': '0123abcd', [ANNOTATION_RELOAD]: '5s' });
    expect(r.movedPort).toEqual({ name: 'http', container: 'app', renamedTo: 'app-http' });
    expect(r.manual).toEqual([]);
  });

  it('creates the lists a pod does not have, and keeps other annotations', () => {
    const before: PodLike = { metadata: { annotations: { team: 'a' } }, spec: { containers: [{ name: 'app' }] } };
    const r = injectSidecar(before, { ...opts, services: [service('orders', 8080)] });
    if (!r.changed) throw new Error(r.reason);
    const after = applyJsonPatch(before, r.patch);
    expect(after.spec?.initContainers?.map((c) => c.name)).toEqual([SIDECAR_CONTAINER_NAME]);
    expect(after.spec?.initContainers?.[0]?.ports).toEqual([{ name: SIDECAR_PORT_NAME, containerPort: 8080, protocol: 'TCP' }]);
    expect(after.spec?.volumes).toEqual(sidecarVolumes({ name: 'orders' }));
    expect(after.metadata?.annotations).toEqual({ team: 'a', [ANNOTATION_INJECTED]: 'orders', [ANNOTATION_RELOAD]: '5s' });
    const stamped = injectSidecar(before, { ...opts, services: [service('orders', 8080)], configDigest: '0123abcd' });
    expect(stamped.changed && applyJsonPatch(before, stamped.patch).metadata?.annotations).toEqual({ team: 'a', [ANNOTATION_INJECTED]: 'orders', 'apisec.dev/sidecar-config': '0123abcd', [ANNOTATION_RELOAD]: '5s' });
    expect(r.manual).toEqual([]);
  });

  it('a numeric target past the sidecar: injected, no port changed, the exact change named', () => {
    const r = injectSidecar(pod(), { ...opts, services: [service('orders', 3000)] });
    expect(r.changed && r.patch.some((op) => op.path.includes('/ports/'))).toBe(false);
    expect(r.changed && r.manual).toEqual([`Service orders port 80 sends traffic to 3000, past the sidecar: ${manualWiring('orders', 0, 8080)}`]);
    expect(manualWiring('orders', 0, 8080)).toContain(`kubectl patch service orders --type=json -p '[{"op":"replace","path":"/spec/ports/0/targetPort","value":8080}]'`);
  });

  it('without spec.sidecar.appPort forwards to the port the Service targets in this pod, by name or by number', () => {
    const byName = injectSidecar(pod({ ports: [{ name: 'http', containerPort: 4000 }] }), { ...opts, appPort: undefined, services: [service('orders', 'http')] });
    expect(byName).toMatchObject({ changed: true, appPort: 4000, movedPort: { name: 'http', renamedTo: 'app-http' } });
    expect(byName.changed && 'container' in byName && byName.container.env).toEqual([{ name: 'APISEC_APP_PORT', value: '4000' }]);
    const byNumber = injectSidecar(pod(), { ...opts, appPort: undefined, services: [service('orders', 3000)] });
    expect(byNumber).toMatchObject({ changed: true, appPort: 3000 });
    expect(byNumber.changed && byNumber.manual).toHaveLength(1); // and the Service still needs its targetPort changed
  });

  it.each<[string, PodLike, ReturnType<typeof service>[], RegExp]>([
    ['the Service already targets the sidecar', pod(), [service('orders', 8080)], /set spec.sidecar.appPort: .*only to the sidecar's port 8080/],
    ['several numeric targets', pod(), [service('orders', 3000), service('orders-b', 3001)], /send traffic to several ports \(3000, 3001\)/],
    ['a port name no container has', pod({ ports: [{ containerPort: 3000 }] }), [service('orders', 'http')], /set spec.sidecar.appPort: .*targets port http, which no container of the pod names/],
  ])('without spec.sidecar.appPort, none when %s, with the reason', (_what, before, services, reason) => {
    const r = injectSidecar(before, { ...opts, appPort: undefined, services });
    expect(r.changed).toBe(false);
    expect(!r.changed && r.reason).toMatch(reason);
  });

  it.each<[string, PodLike, RegExp]>([
    ['the sidecar port is taken', pod({ ports: [{ name: 'http', containerPort: 3000 }, { containerPort: 8080 }] }), /container app already uses port 8080/],
    ['a volume name is taken', pod({ spec: { containers: [{ name: 'app' }], volumes: [{ name: 'apisec-config' }] } }), /volume named apisec-config/],
    ['the named port is not appPort', pod({ ports: [{ name: 'http', containerPort: 4000 }] }), /which is 4000 on container app, but the sidecar would forward to spec.sidecar.appPort 3000/],
  ])('none when %s, with the reason', (_what, before, reason) => {
    const r = injectSidecar(before, { ...opts, services: [service('orders', 'http')] });
    expect(r.changed).toBe(false);
    expect(!r.changed && r.reason).toMatch(reason);
  });

  it('is idempotent: a pod that carries the sidecar is left as it is', () => {
    const first = injectSidecar(pod(), { ...opts, services: [service('orders', 'http')] });
    if (!first.changed) throw new Error(first.reason);
    const again = injectSidecar(applyJsonPatch(pod(), first.patch), { ...opts, services: [service('orders', 'http')] });
    expect(again).toMatchObject({ changed: false, alreadyInjected: true });
  });

  it('a pod with the sidecar but not the annotation (a copy, a hand-made one) only gets the annotation', () => {
    const first = injectSidecar(pod(), { ...opts, services: [service('orders', 'http')] });
    if (!first.changed) throw new Error(first.reason);
    const copy = applyJsonPatch(pod(), first.patch);
    delete copy.metadata!.annotations;
    const r = injectSidecar(copy, { ...opts, services: [service('orders', 'http')] });
    expect(r).toMatchObject({ changed: true, annotateOnly: true, patch: [{ op: 'add', path: '/metadata/annotations', value: { [ANNOTATION_INJECTED]: 'orders' } }] });
  });

  it('before Kubernetes 1.29: the sidecar next to the app, with the same port name moved to it', () => {
    const r = injectSidecar(pod(), { ...opts, services: [service('orders', 'http')], native: false });
    if (!r.changed) throw new Error(r.reason);
    const after = applyJsonPatch(pod(), r.patch);
    expect(after.spec?.initContainers).toBeUndefined();
    expect(after.spec?.containers?.map((c) => c.name)).toEqual(['app', SIDECAR_CONTAINER_NAME]);
    expect(after.spec?.containers?.[1]).not.toHaveProperty('restartPolicy');
    expect(after.spec?.containers?.map((c) => c.ports?.[0]?.name)).toEqual(['app-http', 'http']);
    expect([supportsNativeSidecars('v1.35.4'), supportsNativeSidecars('v1.29.0-gke.1'), supportsNativeSidecars('v1.28.9'), supportsNativeSidecars('v2.0.0'), supportsNativeSidecars('weird')]).toEqual([true, true, false, true, true]);
  });

  it('a renamed port stays a valid, unique port name', () => {
    expect(renamedPort('http', new Set(['http']))).toBe('app-http');
    expect(renamedPort('http', new Set(['http', 'app-http']))).toBe('app2-http');
    expect(renamedPort('very-long-name1', new Set(['very-long-name1']))).toBe('app-very-long-n');
    expect(renamedPort('abcdefghijk-xyz', new Set(['abcdefghijk-xyz']))).toBe('app-abcdefghijk');
  });
});

describe("the pods that should carry a policy's sidecar", () => {
  const podMeta = (name: string, labels: Record<string, string>, annotations?: Record<string, string>) => ({ metadata: { name, labels: { app: 'orders', ...labels }, ...(annotations ? { annotations } : {}) } });
  const base = { policy: 'orders', namespace: NS, namespaceLabels: {}, operatorNamespace: 'apisec-system', services: [service('orders', 'http')] };

  it('counts the opted-in pods behind the Services and names those without its annotation', () => {
    const pods = [
      podMeta('b-missing', { 'apisec.dev/inject': 'enabled' }),
      podMeta('a-ok', { 'apisec.dev/inject': 'enabled' }, { [ANNOTATION_INJECTED]: 'orders' }),
      podMeta('other-policy', { 'apisec.dev/inject': 'enabled' }, { [ANNOTATION_INJECTED]: 'billing' }),
      podMeta('not-opted-in', {}),
      podMeta('opted-out', { 'apisec.dev/inject': 'disabled' }),
      { metadata: { name: 'not-selected', labels: { app: 'billing', 'apisec.dev/inject': 'enabled' } } },
    ];
    expect(sidecarCoverage({ ...base, pods })).toEqual({ expected: 3, missing: ['b-missing', 'other-policy'], stale: [], reloading: [] });
    const refused = podMeta('c-refused', { 'apisec.dev/inject': 'enabled' }, { 'apisec.dev/sidecar-refused': 'container app already uses port 8080' });
    expect(sidecarCoverage({ ...base, pods: [refused] }).missing).toEqual(['c-refused (refused: container app already uses port 8080)']);
    expect(sidecarCoverage({ ...base, namespaceLabels: { 'apisec.dev/inject': 'enabled' }, pods }).expected).toBe(4);
    expect(sidecarCoverage({ ...base, namespace: 'kube-system', pods }).expected).toBe(0);
  });

  it('names the injected pods whose nginx started with another config than the ConfigMap holds now', () => {
    const injected = (name: string, config?: string) => podMeta(name, { 'apisec.dev/inject': 'enabled' }, { [ANNOTATION_INJECTED]: 'orders', ...(config ? { 'apisec.dev/sidecar-config': config } : {}) });
    const pods = [injected('new', 'bbbb'), injected('old', 'aaaa'), injected('unstamped')];
    expect(sidecarCoverage({ ...base, pods, configDigest: 'bbbb' })).toEqual({ expected: 3, missing: [], stale: ['old'], reloading: [] });
    // A sidecar that reloads in place is named as reloading, not as needing a rollout.
    const reloads = podMeta('reloads', { 'apisec.dev/inject': 'enabled' }, { [ANNOTATION_INJECTED]: 'orders', 'apisec.dev/sidecar-config': 'aaaa', [ANNOTATION_RELOAD]: '5s' });
    expect(sidecarCoverage({ ...base, pods: [...pods, reloads], configDigest: 'bbbb' })).toMatchObject({ expected: 4, stale: ['old'], reloading: ['reloads'] });
    expect(sidecarCoverage({ ...base, pods }).stale).toEqual([]); // the ConfigMap is not known: nothing to compare
  });
});

describe('the AdmissionReview', () => {
  const ctx = (over: Partial<SelectInput> = {}): ReviewContext => {
    const { namespaceLabels, policies, lookup } = input(over);
    return { operatorNamespace: 'apisec-system', image: 'nginx:1.27-alpine', namespace: () => ({ namespaceLabels, policies, lookup }) };
  };
  const request = (object: unknown, over: Record<string, unknown> = {}) => ({ uid: 'u-1', kind: { group: '', version: 'v1', kind: 'Pod' }, operation: 'CREATE', namespace: NS, object, ...over });

  it('answers allowed with a base64 JSON Patch', () => {
    const { out, outcome } = review(request(pod()), ctx());
    expect(out).toMatchObject({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: 'u-1', allowed: true, patchType: 'JSONPatch' } });
    const ops = JSON.parse(Buffer.from(out.response.patch!, 'base64').toString('utf8')) as JsonPatchOp[];
    expect(ops.map((o) => o.path)).toContain('/spec/initContainers');
    expect(outcome).toMatchObject({ result: 'injected', policy: 'orders', namespace: NS, pod: 'orders-*' });
  });

  it('a pod it would break: allowed with its spec unchanged, the reason in an annotation, a warning and the audit log', () => {
    const before = pod({ ports: [{ name: 'http', containerPort: 3000 }, { containerPort: 8080 }] });
    const { out, outcome } = review(request(before), ctx());
    const ops = JSON.parse(Buffer.from(out.response.patch!, 'base64').toString('utf8')) as JsonPatchOp[];
    const after = applyJsonPatch(before, ops);
    expect(after.spec).toEqual(before.spec);
    expect(after.metadata?.annotations?.['apisec.dev/sidecar-refused']).toMatch(/^container app already uses port 8080/);
    expect(out.response.warnings).toEqual([expect.stringMatching(/^apisec: no sidecar of policy orders: container app already uses port 8080/)]);
    expect(out.response.auditAnnotations?.['sidecar-refused']).toMatch(/already uses port 8080/);
    expect(outcome.result).toBe('refused');
  });

  it('anything but the creation of a Pod, or a pod not opted in: allowed, no patch, no warning', () => {
    for (const r of [request(pod(), { operation: 'UPDATE' }), request(pod(), { kind: { group: 'apps', version: 'v1', kind: 'Deployment' } })]) {
      expect(review(r, ctx()).out.response).toEqual({ uid: 'u-1', allowed: true });
    }
    expect(review(request(pod()), ctx({ namespaceLabels: {} })).out.response).toEqual({ uid: 'u-1', allowed: true });
  });

  it('names from the cluster reach warnings inert', () => {
    const hostile = pod({ ports: [{ name: 'http', containerPort: 3000 }, { containerPort: 8080 }] });
    hostile.spec!.containers![0]!.name = 'app\u001b[2J\u202e';
    const { out } = review(request(hostile), ctx());
    expect(out.response.warnings?.[0]).toContain('app\\u001b[2J\\u202e');
  });

  it('refuses what is not an AdmissionReview', () => {
    expect(() => admissionRequest({ kind: 'AdmissionReview' })).toThrow(BadReview);
    expect(() => admissionRequest({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: {} })).toThrow(/request.uid/);
    expect(admissionRequest({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: 'x' } }).uid).toBe('x');
  });
});
