#!/usr/bin/env node
// Launcher of the apisec CLI, installed as `apisec` and as `kubectl-apisec` (a kubectl plugin). From a
// checkout it runs the TypeScript sources directly, which needs Node.js >= 22.18 (types are stripped by
// default from there on); from an installed package (Node strips no types under node_modules) it runs
// the compiled dist/ of `npm run build`.
import { existsSync } from 'node:fs';
import { URL, fileURLToPath } from 'node:url';

const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 18) || (major === 23 && minor < 6)) {
  process.stderr.write(`apisec: needs Node.js >= 22.18, this is ${process.version}\n`);
  process.exit(2);
}
const source = new URL('../src/cli/main.ts', import.meta.url);
const compiled = new URL('../dist/cli/main.js', import.meta.url);
const fromCheckout = !import.meta.url.includes('/node_modules/') && existsSync(source);
if (!fromCheckout && !existsSync(compiled)) {
  process.stderr.write(`apisec: ${fileURLToPath(compiled)} is missing: run npm run build in the package\n`);
  process.exit(2);
}
const { cli } = await import((fromCheckout ? source : compiled).href);
await cli();
