// npm run gen:crds: writes crds/ from the zod schemas in src/api. A unit test fails when crds/ is stale.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CRD_FILES, renderCrdYaml } from '../src/api/crd.ts';

const dir = join(import.meta.dirname, '..', 'crds');
for (const [file, make] of Object.entries(CRD_FILES)) {
  writeFileSync(join(dir, file), renderCrdYaml(make));
  console.log(`wrote crds/${file}`);
}
