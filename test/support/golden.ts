// Golden files: compare an output with the stored one; UPDATE_GOLDEN=1 rewrites the stored one instead.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** Asserts that `actual` equals test/golden/<path>; with UPDATE_GOLDEN=1, writes it there and passes. */
export function expectGolden(path: string, actual: string): void {
  const file = join(repoRoot, 'test/golden', path);
  if (process.env.UPDATE_GOLDEN === '1') {
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, actual);
    return;
  }
  if (!existsSync(file)) throw new Error(`no golden file ${relative(repoRoot, file)}: run the test with UPDATE_GOLDEN=1 to create it`);
  expect(actual).toBe(readFileSync(file, 'utf8'));
}
