// The Gateway API (standard channel) and Envoy Gateway CRDs for the integration tests, read from the Go
// module cache by test/tools/gateway-crds.sh: never copied into this repository.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { KubeClient } from '../../src/k8s/client.ts';
import { repoRoot } from './controlplane.ts';
import { apply, loadYamlFile, waitEstablished } from './kube.ts';

/** The two CRD directories: Gateway API's and Envoy Gateway's. */
export function gatewayCrdDirs(): { gatewayApi: string; envoyGateway: string } {
  const run = spawnSync('bash', [join(repoRoot, 'test/tools/gateway-crds.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  const [gatewayApi, envoyGateway] = run.stdout.trim().split('\n');
  if (run.status !== 0 || !gatewayApi || !envoyGateway) throw new Error(`test/tools/gateway-crds.sh failed (exit ${run.status}); see above. Alternative: GATEWAY_API_CRDS=<dir> ENVOY_GATEWAY_CRDS=<dir>.`);
  return { gatewayApi, envoyGateway };
}

/**
 * Installs the Gateway API CRDs and, unless `envoy` is false, Envoy Gateway's (only the
 * CustomResourceDefinitions of each file), and waits until each is Established.
 */
export async function installGatewayCrds(client: KubeClient, { envoy = true } = {}): Promise<string[]> {
  const { gatewayApi, envoyGateway } = gatewayCrdDirs();
  const files = (envoy ? [gatewayApi, envoyGateway] : [gatewayApi]).flatMap((dir) => readdirSync(dir).filter((f) => f.endsWith('.yaml')).sort().map((f) => join(dir, f)));
  const crds = files.flatMap((f) => loadYamlFile(f)).filter((o) => o.kind === 'CustomResourceDefinition');
  for (const crd of crds) await apply(client, crd);
  for (const crd of crds) await waitEstablished(client, crd.metadata.name);
  return crds.map((c) => c.metadata.name).sort();
}
