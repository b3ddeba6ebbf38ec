// jest globalSetup of the faults project: only the preparation step (test/tools/prepare.ts), which points
// the tests at the tools by their variables. Each fault file starts (and breaks) its own control plane.
// Plain ESM: jest loads this file with Node itself, which runs the .ts helpers by type stripping.
import { prepare } from '../tools/prepare.ts';

export default async function faultsSetup() {
  process.stderr.write('\n');
  Object.assign(process.env, await prepare());
}
