// npm run sync:chart-crds — copies the CRDs of crds/ (written by `npm run gen:crds`) into the Helm chart's
// crds/ folder and removes chart CRDs that no longer exist there. test/unit/chart-crds.test.ts fails
// whenever the two folders differ.
import { copyFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const from = join(root, 'crds');
const to = join(root, 'charts/api-security-operator/crds');
const yaml = (dir: string): string[] => readdirSync(dir).filter((f) => f.endsWith('.yaml')).sort();

const wanted = yaml(from);
for (const f of wanted) copyFileSync(join(from, f), join(to, f));
for (const f of yaml(to).filter((f) => !wanted.includes(f))) rmSync(join(to, f));
console.log(`charts/api-security-operator/crds: ${wanted.join(', ')}`);
