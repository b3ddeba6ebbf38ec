// The Helm CLI for the chart tests: HELM=<path to a Helm 3 binary>, else the one test/tools/build-helm.sh
// builds from its Go module (once, into .cache/tools/). Helm runs with its own empty config, cache and
// data folders, so the tests neither read nor change the user's repositories or plugins.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from './controlplane.ts';

export const chartDir = join(repoRoot, 'charts/api-security-operator');

/** The Kubernetes version the offline renders (template, lint) assume: the test control plane's. */
export const KUBE_VERSION = '1.35.4';

let located: string | undefined;

/** Path of the Helm binary; builds it on first use. Throws an error that names the alternatives. */
export function helmBinary(env: NodeJS.ProcessEnv = process.env): string {
  if (located) return located;
  if (env.HELM) {
    if (!existsSync(env.HELM)) throw new Error(`HELM=${env.HELM} does not exist`);
    return (located = env.HELM);
  }
  const build = spawnSync('bash', [join(repoRoot, 'test/tools/build-helm.sh')], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    env,
  });
  if (build.error) throw new Error(`cannot run test/tools/build-helm.sh: ${build.error.message}`);
  if (build.status !== 0) {
    throw new Error(`building Helm failed (exit ${build.status}); see the messages above. Alternative: HELM=<path to a Helm 3 binary>.`);
  }
  return (located = build.stdout.trim().split('\n').pop() ?? '');
}

let home: string | undefined;
function helmEnv(): NodeJS.ProcessEnv {
  home ??= mkdtempSync(join(tmpdir(), 'apisec-helm-'));
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    HELM_CACHE_HOME: join(home, 'cache'),
    HELM_CONFIG_HOME: join(home, 'config'),
    HELM_DATA_HOME: join(home, 'data'),
  };
  delete env.KUBECONFIG;
  delete env.HELM_NAMESPACE;
  return env;
}

export interface HelmResult {
  status: number;
  stdout: string;
  stderr: string;
}

/** Runs helm with args (kubeconfig: adds --kubeconfig); resolves whatever the exit status. */
export function helm(args: string[], opts: { kubeconfig?: string; timeoutMs?: number } = {}): Promise<HelmResult> {
  const bin = helmBinary();
  const full = opts.kubeconfig ? [...args, '--kubeconfig', opts.kubeconfig] : args;
  return new Promise((resolve, reject) => {
    const proc = spawn(bin, full, { env: helmEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    proc.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => proc.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
    proc.on('error', reject);
    proc.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ status: code ?? (signal ? 128 : 1), stdout, stderr });
    });
  });
}

/** Runs helm and returns its stdout; throws with helm's stderr when it fails. */
export async function helmOk(args: string[], opts: { kubeconfig?: string; timeoutMs?: number } = {}): Promise<string> {
  const r = await helm(args, opts);
  if (r.status !== 0) throw new Error(`helm ${args.join(' ')} failed (exit ${r.status}):\n${r.stderr}${r.stdout}`);
  return r.stdout;
}
