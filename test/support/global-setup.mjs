// jest globalSetup of the integration project: one control plane per test run, shared by all
// integration files (each isolates itself in its own namespaces). Workers read it from the env.
// Plain ESM: jest loads this file with Node itself, which runs the .ts helper by type stripping.
import { startControlPlane } from './controlplane.ts';

export default async function globalSetup() {
  const started = Date.now();
  const info = await startControlPlane({ tieToThisProcess: true });
  process.env.APISEC_TEST_CONTROLPLANE = JSON.stringify(info);
  globalThis.__apisecControlPlane = info;
  process.stderr.write(`\ncontrol plane (${info.kind}) ready at ${info.server} in ${Date.now() - started} ms\n`);
}
