// The background control plane of `npm run cluster:up` / `cluster:down` and the demo. Its admin
// kubeconfig is written to .cache/cluster/kubeconfig. Both operations are idempotent.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { alive, repoRoot, startControlPlane, stopControlPlane, type ControlPlaneInfo } from '../test/support/controlplane.ts';

const dir = join(repoRoot, '.cache', 'cluster');
const stateFile = join(dir, 'controlplane.json');
export const kubeconfig = join(dir, 'kubeconfig');

function running(): ControlPlaneInfo | undefined {
  if (!existsSync(stateFile)) return undefined;
  const info = JSON.parse(readFileSync(stateFile, 'utf8')) as ControlPlaneInfo;
  return info.pids.length > 0 && info.pids.every(alive) ? info : undefined;
}

export async function up(): Promise<void> {
  const current = running();
  if (current) {
    console.log(`control plane already running at ${current.server}\nexport KUBECONFIG=${kubeconfig}`);
    return;
  }
  await down(true);
  mkdirSync(dir, { recursive: true });
  const info = await startControlPlane({ tieToThisProcess: false, workDir: join(dir, 'state') });
  writeFileSync(stateFile, JSON.stringify(info, null, 2));
  writeFileSync(kubeconfig, readFileSync(info.kubeconfigPath));
  console.log(`control plane running at ${info.server} (pids ${info.pids.join(', ')})\nexport KUBECONFIG=${kubeconfig}`);
}

export async function down(quiet = false): Promise<void> {
  if (existsSync(stateFile)) {
    const info = JSON.parse(readFileSync(stateFile, 'utf8')) as ControlPlaneInfo;
    await stopControlPlane(info, true);
  }
  rmSync(dir, { recursive: true, force: true });
  if (!quiet) console.log('control plane stopped; .cache/cluster removed');
}

