import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { INJECT_ENABLED, LABEL_INJECT } from '../../src/compliance/injection.ts';
import { SIDECAR_IMAGE, sidecarVolumes } from '../../src/render/sidecar-container.ts';
import type { ServiceLike } from '../../src/render/types.ts';
import { applyJsonPatch, injectSidecar, type PodLike } from '../../src/webhook/patch.ts';
import { withSidecarDocBlock } from '../../src/render/sidecar-doc.ts';
import { withInjectionDocBlock } from '../../src/webhook/doc.ts';

const root = join(import.meta.dirname, '..', '..');

describe('docs/sidecar.md', () => {
  it('shows the start contract of src/render/sidecar-container.ts (run `npm run gen:docs`)', () => {
    const doc = readFileSync(join(root, 'docs', 'sidecar.md'), 'utf8');
    expect(doc).toBe(withSidecarDocBlock(doc));
  });

  it("shows a workload before and after injection as the webhook's patch makes it (run `npm run gen:docs`)", () => {
    const doc = readFileSync(join(root, 'docs', 'sidecar.md'), 'utf8');
    expect(doc).toBe(withInjectionDocBlock(doc));
  });
});

describe('examples/sidecar-api.yaml', () => {
  it("is injected by the webhook's own patch: the named port moves to the sidecar, which forwards to the app's 3000", () => {
    const docs = parseAllDocuments(readFileSync(join(root, 'examples', 'sidecar-api.yaml'), 'utf8')).map((d) => d.toJS() as Record<string, unknown>);
    const namespace = docs.find((d) => d.kind === 'Namespace') as { metadata: { labels?: Record<string, string> } } | undefined;
    const service = docs.find((d) => d.kind === 'Service') as unknown as ServiceLike;
    const deployment = docs.find((d) => d.kind === 'Deployment') as { spec: { template: PodLike } } | undefined;
    const policy = docs.find((d) => d.kind === 'ApiSecurityPolicy') as { metadata: { name: string }; spec: { sidecar: { port: number; appPort?: number } } } | undefined;
    expect(namespace?.metadata.labels?.[LABEL_INJECT]).toBe(INJECT_ENABLED);
    const pod = deployment!.spec.template;
    const r = injectSidecar(pod, { policy: policy!.metadata.name, image: SIDECAR_IMAGE, port: policy!.spec.sidecar.port, appPort: policy!.spec.sidecar.appPort, services: [service] });
    if (!r.changed || 'annotateOnly' in r) throw new Error(`not injected: ${JSON.stringify(r)}`);
    expect(r.manual).toEqual([]);
    expect(r.appPort).toBe(3000);
    expect(r.movedPort).toEqual({ name: 'http', container: 'app', renamedTo: 'app-http' });
    const after = applyJsonPatch(pod, r.patch);
    expect(after.spec?.initContainers?.[0]).toEqual(r.container);
    expect(r.container.env).toEqual([{ name: 'APISEC_APP_PORT', value: '3000' }]);
    expect(after.spec?.volumes).toEqual(sidecarVolumes({ name: policy!.metadata.name }));
  });
});
