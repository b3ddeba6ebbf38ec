// npm run gen:docs: writes docs/fidelity.md and the generated blocks of docs/sidecar.md from the
// renderers and the injection webhook's patch. Unit tests fail when they are stale.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fidelityDoc } from '../src/render/fidelity-table.ts';
import { withSidecarDocBlock } from '../src/render/sidecar-doc.ts';
import { withInjectionDocBlock } from '../src/webhook/doc.ts';

const docs = join(import.meta.dirname, '..', 'docs');
writeFileSync(join(docs, 'fidelity.md'), fidelityDoc());
console.log('wrote docs/fidelity.md');
const sidecar = join(docs, 'sidecar.md');
writeFileSync(sidecar, withInjectionDocBlock(withSidecarDocBlock(readFileSync(sidecar, 'utf8'))));
console.log('wrote the generated blocks of docs/sidecar.md');
