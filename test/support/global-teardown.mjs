import { stopControlPlane } from './controlplane.ts';

export default async function globalTeardown() {
  const info = globalThis.__apisecControlPlane;
  if (info) await stopControlPlane(info, process.env.KEEP_CONTROLPLANE !== 'true');
}
