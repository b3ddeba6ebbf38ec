// npm run demo — the README's "try it": a local control plane, the CRDs, everything in examples/, and
// the operator, then `kubectl get apisecuritypolicies -A` once all policies are reconciled. The operator
// serves the sidecar injection webhook on 127.0.0.1, registered with the cluster (a self-signed
// certificate as its caBundle), and one pod is created as a dry run to show the sidecar it gets. Runs
// until Ctrl-C (or exits by itself with DEMO_EXIT_WHEN_READY=true, as the tests run it).
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { parseConfig, type OperatorConfig } from '../src/config.ts';
import { connect } from '../src/k8s/connect.ts';
import { Resources, collectionPath, type KubeObject } from '../src/k8s/resources.ts';
import { run } from '../src/main.ts';
import { selfSignedCertificate } from '../src/observability/self-signed.ts';
import { LABEL_INJECT } from '../src/compliance/injection.ts';
import { LABEL_API_KEYS } from '../src/render/labels.ts';
import { webhookConfiguration } from '../src/webhook/configuration.ts';
import { MUTATE_PATH } from '../src/webhook/review.ts';
import { freePort, repoRoot } from '../test/support/controlplane.ts';
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
// What examples/sidecar-api.yaml tells its owner to create: the partners' API keys, labelled for the
// guard (a key made here, shown nowhere).
await apply(
  client,
  { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'partner-api-keys', namespace: 'partners', labels: { [LABEL_API_KEYS]: 'true' } }, stringData: { acme: randomBytes(24).toString('hex') } } as KubeObject,
  'apisec-demo',
);

// The webhook's certificate: self-signed for 127.0.0.1, which the webhook configuration trusts.
const certDir = mkdtempSync(join(tmpdir(), 'apisec-demo-webhook-'));
const pair = selfSignedCertificate(['127.0.0.1']);
writeFileSync(join(certDir, 'tls.crt'), pair.cert);
writeFileSync(join(certDir, 'tls.key'), pair.key, { mode: 0o600 });
process.on('exit', () => rmSync(certDir, { recursive: true, force: true }));
const webhookPort = await freePort();
const config = parseConfig(
  ['--kubeconfig', kubeconfig, '--leader-elect=false', '--metrics-bind-address', '127.0.0.1:0', '--health-probe-bind-address', '127.0.0.1:0', '--webhook-bind-address', `127.0.0.1:${webhookPort}`, '--webhook-cert-dir', certDir],
  { LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' },
) as OperatorConfig;
await run(config, pino({ level: config.logLevel }));
const clientConfig = { url: `https://127.0.0.1:${webhookPort}${MUTATE_PATH}`, caBundle: Buffer.from(pair.cert).toString('base64') };
await apply(client, webhookConfiguration({ name: 'apisec-demo-sidecar-injector', operatorNamespace: config.webhook!.operatorNamespace, clientConfig }) as KubeObject, 'apisec-demo');
console.log(`registered the sidecar injection webhook at ${clientConfig.url}`);

await eventually(async () => {
  const list = await client.request<{ items: Policy[] }>('GET', collectionPath(Resources.policy), { verb: 'list' });
  const pending = list.items.filter((p) => p.status?.observedGeneration !== p.metadata.generation);
  if (list.items.length === 0 || pending.length) throw new Error(`waiting for ${pending.map((p) => p.metadata.name).join(', ')}`);
}, 60_000);

// A pod of the partners example's Deployment (its namespace and this label opt it in), as a
// dry run: the API server calls the webhook (once it has seen the configuration) and shows what it stores.
type Pod = { metadata: { annotations?: Record<string, string> }; spec: { initContainers?: { name: string; image: string; restartPolicy?: string }[] } };
const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { generateName: 'partner-api-', namespace: 'partners', labels: { app: 'partner-api', [LABEL_INJECT]: 'enabled' } }, spec: { containers: [{ name: 'app', image: 'registry.example.com/partner-api:1.4.2', ports: [{ containerPort: 3000 }] }] } };
const injected = await eventually(async () => {
  const p = await client.request<Pod>('POST', collectionPath(Resources.pod, 'partners'), { verb: 'create', body: pod, query: { dryRun: 'All' } });
  if (!p.spec.initContainers?.length) throw new Error('the API server does not call the webhook yet');
  return p;
}, 30_000);
const sidecar = injected.spec.initContainers?.[0];
console.log(`\nA pod labelled ${LABEL_INJECT}=enabled behind the Service partner-api (dry run) got the sidecar: init container ${sidecar?.name} (${sidecar?.image}, restartPolicy ${sidecar?.restartPolicy}), annotation apisec.dev/sidecar-injected=${injected.metadata.annotations?.['apisec.dev/sidecar-injected']}`);

for (const args of [['get', 'apisecuritypolicies', '-A'], ['get', 'clusterapisecuritypolicies']]) {
  const table = spawnSync('kubectl', args, { env: { ...process.env, KUBECONFIG: kubeconfig }, encoding: 'utf8' });
  console.log(`\n$ kubectl ${args.join(' ')}\n${table.status === 0 ? table.stdout : `(kubectl not available: ${table.stderr || table.error?.message})`}`);
}
console.log(`The cluster keeps running in the background. To look around:\n  export KUBECONFIG=${kubeconfig}\n  kubectl describe asp -n shop catalog-api\n  kubectl get ingress -A -o yaml | grep nginx.ingress\nTry the webhook: kubectl create -n partners -f <a pod labelled ${LABEL_INJECT}=enabled and app=partner-api>
Stop the operator with Ctrl-C (the webhook configuration stays and then admits pods unchanged); stop the
cluster with npm run cluster:down.`);
if (process.env.DEMO_EXIT_WHEN_READY === 'true') process.kill(process.pid, 'SIGTERM');
