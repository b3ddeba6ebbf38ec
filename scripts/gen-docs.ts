// npm run gen:docs: writes docs/fidelity.md from the renderers. A unit test fails when it is stale.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fidelityDoc } from '../src/render/fidelity-table.ts';

writeFileSync(join(import.meta.dirname, '..', 'docs', 'fidelity.md'), fidelityDoc());
console.log('wrote docs/fidelity.md');
