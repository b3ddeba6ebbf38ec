// jest globalSetup of the integration project: first the preparation step (test/tools/prepare.ts: finds,
// installs or builds every tool the tests run, and points the tests at them by their variables), then
// one control plane per test run, shared by all integration files (each isolates itself in its own
// namespaces). Workers read both from the env.
// Plain ESM: jest loads this file with Node itself, which runs the .ts helpers by type stripping.
import { startControlPlane } from './controlplane.ts';
import { prepare } from '../tools/prepare.ts';

export default async function globalSetup() {
  process.stderr.write('\n');
  Object.assign(process.env, await prepare());
  const started = Date.now();
  const info = await startControlPlane({ tieToThisProcess: true });
  process.env.APISEC_TEST_CONTROLPLANE = JSON.stringify(info);
  globalThis.__apisecControlPlane = info;
  process.stderr.write(`control plane (${info.kind}) ready at ${info.server} in ${Date.now() - started} ms\n`);
}
