import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { sidecarContainer, sidecarVolumes } from '../../src/render/sidecar-container.ts';
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
  it('runs exactly the sidecar container and volumes of the start contract', () => {
    const docs = parseAllDocuments(readFileSync(join(root, 'examples', 'sidecar-api.yaml'), 'utf8')).map((d) => d.toJS() as Record<string, unknown>);
    type Pod = { containers: { name: string; image: string }[]; volumes: unknown[] };
    const deployment = docs.find((d) => d.kind === 'Deployment') as { spec: { template: { spec: Pod } } } | undefined;
    const policy = docs.find((d) => d.kind === 'ApiSecurityPolicy') as { metadata: { name: string }; spec: { sidecar: { port: number } } } | undefined;
    const pod = deployment?.spec.template.spec;
    const sidecar = pod?.containers.find((c) => c.name === 'apisec-sidecar');
    expect(sidecar).toEqual(sidecarContainer({ image: sidecar?.image ?? '', port: policy?.spec.sidecar.port ?? 0 }));
    expect(pod?.volumes).toEqual(sidecarVolumes({ name: policy?.metadata.name ?? '' }));
  });
});
