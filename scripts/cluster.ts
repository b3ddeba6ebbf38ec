// npm run cluster:up | cluster:down — a local control plane for people and the demo, in the background.
import { ControlPlaneError } from '../test/support/controlplane.ts';
import { down, up } from './cluster-lib.ts';

const cmd = process.argv[2];
try {
  if (cmd === 'up') await up();
  else if (cmd === 'down') await down();
  else {
    console.error('usage: node scripts/cluster.ts up|down');
    process.exitCode = 2;
  }
} catch (err) {
  console.error(err instanceof ControlPlaneError ? err.message : err);
  process.exitCode = 1;
}
