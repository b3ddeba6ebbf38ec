// npm run demo — the README's "try it": a local control plane, the CRDs, everything in examples/, and
// the operator, then `kubectl get apisecuritypolicies -A` once all policies are reconciled. Runs until
// Ctrl-C (or exits by itself with DEMO_EXIT_WHEN_READY=true, as the tests run it).
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { parseConfig, type OperatorConfig } from '../src/config.ts';
import { connect } from '../src/k8s/connect.ts';
import { Resources, collectionPath, type KubeObject } from '../src/k8s/resources.ts';
import { run } from '../src/main.ts';
import { repoRoot } from '../test/support/controlplane.ts';
import { apply, eventually, installCrds, loadYamlFile } from '../test/support/kube.ts';
import { kubeconfig, up } from './cluster-lib.ts';

type Policy = KubeObject & { status?: { observedGeneration?: number } };

await up();
const client = connect({ kubeconfig });
await installCrds(client);
const examples = join(repoRoot, 'examples');
for (const file of readdirSync(examples).filter((f) => f.endsWith('.yaml')).sort()) {
  const objects = loadYamlFile(join(examples, file));
  // Namespaces first, then what lives in them.
  for (const obj of [...objects].sort((a, b) => Number(b.kind === 'Namespace') - Number(a.kind === 'Namespace'))) await apply(client, obj, 'apisec-demo');
  console.log(`applied examples/${file} (${objects.length} objects)`);
}

const config = parseConfig(['--kubeconfig', kubeconfig, '--leader-elect=false', '--metrics-bind-address', '127.0.0.1:0', '--health-probe-bind-address', '127.0.0.1:0'], {
  LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
}) as OperatorConfig;
await run(config, pino({ level: config.logLevel }));

await eventually(async () => {
  const list = await client.request<{ items: Policy[] }>('GET', collectionPath(Resources.policy), { verb: 'list' });
  const pending = list.items.filter((p) => p.status?.observedGeneration !== p.metadata.generation);
  if (list.items.length === 0 || pending.length) throw new Error(`waiting for ${pending.map((p) => p.metadata.name).join(', ')}`);
}, 60_000);

for (const args of [['get', 'apisecuritypolicies', '-A'], ['get', 'clusterapisecuritypolicies']]) {
  const table = spawnSync('kubectl', args, { env: { ...process.env, KUBECONFIG: kubeconfig }, encoding: 'utf8' });
  console.log(`\n$ kubectl ${args.join(' ')}\n${table.status === 0 ? table.stdout : `(kubectl not available: ${table.stderr || table.error?.message})`}`);
}
console.log(`The cluster keeps running in the background. To look around:\n  export KUBECONFIG=${kubeconfig}\n  kubectl describe asp -n shop catalog-api\n  kubectl get ingress -A -o yaml | grep nginx.ingress\nStop the operator with Ctrl-C; stop the cluster with npm run cluster:down.`);
if (process.env.DEMO_EXIT_WHEN_READY === 'true') process.kill(process.pid, 'SIGTERM');
