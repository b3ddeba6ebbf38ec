// Small manifests shared by integration tests.
import type { KubeObject } from '../../src/k8s/resources.ts';

export const ingress = (ns: string, name: string, service: string, cls = 'nginx'): KubeObject => ({
  apiVersion: 'networking.k8s.io/v1',
  kind: 'Ingress',
  metadata: { name, namespace: ns },
  spec: {
    ingressClassName: cls,
    tls: [{ hosts: [`${name}.example.com`], secretName: `${name}-tls` }],
    rules: [{ host: `${name}.example.com`, http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: service, port: { number: 80 } } } }] } }],
  },
});

export const service = (ns: string, name: string): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name, namespace: ns },
  spec: { selector: { app: name }, ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }] },
});

export const policy = (ns: string, name: string, spec: Record<string, unknown>): KubeObject => ({
  apiVersion: 'apisec.dev/v1alpha1',
  kind: 'ApiSecurityPolicy',
  metadata: { name, namespace: ns },
  spec,
});
