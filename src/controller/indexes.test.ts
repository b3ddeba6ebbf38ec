import { store } from '../../test/support/builders.ts';
import type { KubeObject } from '../k8s/resources.ts';
import { INDEXERS, indexed, nameKey, targetKey } from './indexes.ts';

const policy = (ns: string, name: string, ...ingresses: string[]): KubeObject => ({
  metadata: { namespace: ns, name },
  spec: { targetRefs: ingresses.map((i) => ({ group: 'networking.k8s.io', kind: 'Ingress', name: i })) },
});
const ingress = (ns: string, name: string, service: string, marker?: string): KubeObject => ({
  metadata: { namespace: ns, name, ...(marker ? { annotations: { 'apisec.dev/policy': marker } } : {}) },
  spec: { rules: [{ http: { paths: [{ path: '/', backend: { service: { name: service, port: { number: 80 } } } }] } }] },
});

describe('cache indexes', () => {
  it('file each object under what an event or a reconcile looks it up by', () => {
    expect(INDEXERS.target(policy('a', 'p', 'web', 'api'))).toEqual(['a/Ingress/web', 'a/Ingress/api']);
    expect(INDEXERS.marker(ingress('a', 'web', 'svc', 'p'))).toEqual(['a/p']);
    expect(INDEXERS.marker(ingress('a', 'web', 'svc'))).toEqual([]);
    expect(INDEXERS.backend(ingress('a', 'web', 'svc'))).toEqual(['a/svc']);
    const owned: KubeObject = { metadata: { namespace: 'a', name: 'np', ownerReferences: [{ apiVersion: 'apisec.dev/v1alpha1', kind: 'ApiSecurityPolicy', name: 'p', uid: 'u' }, { apiVersion: 'v1', kind: 'ConfigMap', name: 'x', uid: 'v' }] } };
    expect(INDEXERS.owner(owned)).toEqual(['a/p']);
  });

  it('scan a store without byIndex with the same functions, within the namespace', () => {
    const s = store([policy('a', 'p1', 'web'), policy('a', 'p2', 'web', 'api'), policy('b', 'p3', 'web')]);
    expect(indexed(s, 'target', targetKey('a', 'Ingress', 'web')).map((p) => p.metadata.name)).toEqual(['p1', 'p2']);
    expect(indexed(s, 'target', targetKey('b', 'Ingress', 'web')).map((p) => p.metadata.name)).toEqual(['p3']);
    expect(indexed(s, 'target', targetKey('a', 'Ingress', 'none'))).toEqual([]);
    expect(nameKey('a', 'p')).toBe('a/p');
  });

  it('use byIndex when the store has it', () => {
    const asked: string[] = [];
    const s = { ...store<KubeObject>([]), byIndex: (index: string, value: string) => (asked.push(`${index} ${value}`), [policy('a', 'p1', 'web')]) };
    expect(indexed(s, 'target', 'a/Ingress/web')).toHaveLength(1);
    expect(asked).toEqual(['target a/Ingress/web']);
  });
});
