// The one preparation step of the tests (`npm run prepare:test`; also run by the integration project's
// jest globalSetup): finds or provides every tool the tests run. System tools (nginx, redis-server; setpriv when the
// tests run as root) are found by their environment variable, on PATH or in the usual places, and
// installed with apt-get when this runs as root on Debian/Ubuntu; otherwise it stops with one line per
// missing tool naming the Debian package and the variable that points at an existing binary. The Go-built
// tools (the test control plane, Helm, Traefik) come from their environment variable or are built once
// by their scripts into .cache/. Idempotent; a second run only checks (about a second).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

export interface Platform {
  /** process.getuid(); undefined off POSIX. */
  uid: number | undefined;
  /** The text of /etc/os-release, if any. */
  osRelease: string | undefined;
}

export function currentPlatform(): Platform {
  let osRelease: string | undefined;
  try {
    osRelease = readFileSync('/etc/os-release', 'utf8');
  } catch {
    osRelease = undefined;
  }
  return { uid: process.getuid?.(), osRelease };
}

/** True when os-release says Debian or Ubuntu (or a derivative that declares ID_LIKE=debian). */
export function isDebianLike(osRelease: string | undefined): boolean {
  if (!osRelease) return false;
  const ids = [...osRelease.matchAll(/^(?:ID|ID_LIKE)=["']?([^"'\n]*)/gm)].flatMap((m) => (m[1] ?? '').split(/\s+/));
  return ids.some((id) => id === 'debian' || id === 'ubuntu');
}

/** Why apt-get cannot be used here, or undefined when it can. */
export function whyNoApt(p: Platform): string | undefined {
  if (p.uid !== 0) return 'not root';
  if (!isDebianLike(p.osRelease)) return 'not Debian/Ubuntu';
  return undefined;
}

export interface SystemTool {
  name: string;
  /** Debian packages that provide it, preferred first (later ones when the first has no candidate). */
  packages: string[];
  /** The variable that points at an existing binary, with what it must hold; none for setpriv. */
  envVar?: { name: string; holds: string };
}

export const NGINX: SystemTool = { name: 'nginx', packages: ['nginx-light', 'nginx'], envVar: { name: 'NGINX', holds: '<path to nginx>' } };
// The sidecar traffic tests start nginx as nobody through setpriv when they run as root.
// The global rate-limit traffic tests share one redis-server between two Traefiks and two guards.
export const REDIS: SystemTool = { name: 'redis-server', packages: ['redis-server'], envVar: { name: 'REDIS_SERVER', holds: '<path to redis-server>' } };
export const SETPRIV: SystemTool = { name: 'setpriv', packages: ['util-linux'] };

export interface Missing {
  tool: SystemTool;
  /** Set when the tool's variable is set but does not name a working binary: never overridden. */
  badEnv?: string;
}

/** The one line that says what to do about a missing system tool. */
export function missingLine(m: Missing, why: string | undefined): string {
  const { tool } = m;
  const pkg = tool.packages[0] ?? tool.name;
  const env = tool.envVar ? `, or set ${tool.envVar.name}=${tool.envVar.holds}` : '';
  if (m.badEnv !== undefined) return `prepare: ${tool.name} missing: ${tool.envVar?.name}=${m.badEnv} does not run; point it at a working ${tool.name} (Debian package ${pkg}) or unset it`;
  return `prepare: ${tool.name} missing: install the Debian package ${pkg} (apt-get install ${pkg})${env}${why ? ` [not installed here: ${why}]` : ''}`;
}

export type SystemPlan = { install: Missing[] } | { refuse: string[] };

/**
 * What to do about the missing system tools: install them with apt-get (root on Debian/Ubuntu), or
 * refuse with one line each. A tool whose variable names a broken binary is always refused: the
 * variable is the user's choice, and an installed package would not change what it points at.
 */
export function planSystemTools(missing: Missing[], p: Platform): SystemPlan {
  const why = whyNoApt(p);
  const refused = missing.filter((m) => m.badEnv !== undefined || why !== undefined);
  if (refused.length) return { refuse: refused.map((m) => missingLine(m, m.badEnv === undefined ? why : undefined)) };
  return { install: missing };
}

export interface Found {
  path: string;
  version: string;
}

function run(file: string, args: string[]): { ok: boolean; out: string } {
  const r = spawnSync(file, args, { encoding: 'utf8', timeout: 10_000 });
  return { ok: !r.error && r.status === 0, out: `${r.stdout ?? ''}${r.stderr ?? ''}` };
}

/** Where a server binary is looked for: its variable alone when set, else PATH and the usual sbin folders. */
function serverCandidates(name: string, given: string | undefined, env: NodeJS.ProcessEnv, extra: string[] = []): string[] {
  if (given) return [given];
  const path = (env.PATH ?? '').split(delimiter).filter(Boolean).map((d) => join(d, name));
  return [...new Set([...path, `/usr/sbin/${name}`, `/usr/local/sbin/${name}`, ...extra])];
}

/** The first candidate whose version command succeeds, with the version read from its output. */
function firstWorking(candidates: string[], args: string[], version: RegExp): Found | undefined {
  for (const p of candidates) {
    if (!existsSync(p)) continue;
    const r = run(p, args);
    if (r.ok) return { path: p, version: version.exec(r.out)?.[1] ?? 'unknown version' };
  }
  return undefined;
}

/** Where nginx is looked for: NGINX alone when set, else PATH and the usual sbin folders. */
export function nginxCandidates(env: NodeJS.ProcessEnv = process.env): string[] {
  return serverCandidates('nginx', env.NGINX, env, ['/usr/local/nginx/sbin/nginx']);
}

/** A working nginx (`nginx -v` succeeds), or undefined. */
export function findNginx(env: NodeJS.ProcessEnv = process.env): Found | undefined {
  return firstWorking(nginxCandidates(env), ['-v'], /nginx\/(\S+)/);
}

/** A working redis-server (`redis-server --version`): REDIS_SERVER alone when set, else PATH and the sbin folders. */
export function findRedisServer(env: NodeJS.ProcessEnv = process.env): Found | undefined {
  return firstWorking(serverCandidates('redis-server', env.REDIS_SERVER, env), ['--version'], /v=(\S+)/);
}

function findSetpriv(env: NodeJS.ProcessEnv): Found | undefined {
  for (const d of (env.PATH ?? '').split(delimiter).filter(Boolean)) {
    const p = join(d, 'setpriv');
    if (!existsSync(p)) continue;
    const r = run(p, ['--version']);
    if (r.ok) return { path: p, version: /util-linux (\S+)/.exec(r.out)?.[1] ?? 'unknown version' };
  }
  return undefined;
}

export type Log = (line: string) => void;

export class PrepareError extends Error {
  readonly lines: string[];

  constructor(lines: string[]) {
    super(lines.join('\n'));
    this.name = 'PrepareError';
    this.lines = lines;
    // The lines say everything; a stack trace under them would only bury them.
    this.stack = this.message;
  }
}

const seconds = (since: number): string => ((Date.now() - since) / 1000).toFixed(1);

let aptUpdated = false;

function aptGet(args: string[]): void {
  const r = spawnSync('apt-get', args, {
    encoding: 'utf8',
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    timeout: 15 * 60_000,
  });
  if (r.error || r.status !== 0) {
    throw new PrepareError([`prepare: apt-get ${args.join(' ')} failed (${r.error?.message ?? `exit ${r.status}`}):`, `${r.stdout ?? ''}${r.stderr ?? ''}`.trim()]);
  }
}

/** The first of the packages that apt can install (it knows a candidate version of it). */
function installable(packages: string[]): string | undefined {
  return packages.find((p) => /Candidate: (?!\(none\))\S+/.test(run('apt-cache', ['policy', p]).out));
}

interface SystemResult {
  tool: SystemTool;
  find: (env: NodeJS.ProcessEnv) => Found | undefined;
  needed: boolean;
}

function systemTools(p: Platform): SystemResult[] {
  return [
    { tool: NGINX, find: findNginx, needed: true },
    { tool: REDIS, find: findRedisServer, needed: true },
    { tool: SETPRIV, find: findSetpriv, needed: p.uid === 0 },
  ];
}

// Found system tools are not exported: the tests find them the same way (test/support/nginx.ts), and
// NGINX in nginx's own environment means inherited sockets to it.
async function prepareSystemTools(env: NodeJS.ProcessEnv, p: Platform, log: Log): Promise<void> {
  const missing: (Missing & { started: number; find: SystemResult['find'] })[] = [];
  for (const t of systemTools(p).filter((t) => t.needed)) {
    const started = Date.now();
    const found = t.find(env);
    if (found) {
      log(`prepare: ${t.tool.name} ${found.version} found at ${found.path} (${seconds(started)} s)`);
      continue;
    }
    const envName = t.tool.envVar?.name;
    const badEnv = envName ? env[envName] : undefined;
    missing.push({ tool: t.tool, ...(badEnv ? { badEnv } : {}), started, find: t.find });
  }
  if (!missing.length) return;
  const plan = planSystemTools(missing, p);
  if ('refuse' in plan) throw new PrepareError(plan.refuse);
  const started = Date.now();
  if (!aptUpdated) {
    aptGet(['update', '-qq']);
    aptUpdated = true;
  }
  const packages = missing.map((m) => installable(m.tool.packages) ?? m.tool.packages[0] ?? m.tool.name);
  aptGet(['install', '-y', '-qq', '--no-install-recommends', ...packages]);
  const still: string[] = [];
  for (const [i, m] of missing.entries()) {
    const found = m.find(env);
    if (!found) {
      still.push(`prepare: ${m.tool.name} missing after apt-get install ${packages[i]}: not found where the tests look${m.tool.envVar ? `; set ${m.tool.envVar.name}=${m.tool.envVar.holds}` : ''}`);
      continue;
    }
    log(`prepare: ${m.tool.name} ${found.version} installed at ${found.path} by apt-get install ${packages[i]} (${seconds(started)} s, with apt-get update)`);
  }
  if (still.length) throw new PrepareError(still);
}

interface GoTool {
  name: string;
  script: string;
  /** What to set instead of building, for the one line when it cannot be built. */
  instead: string;
  /** A binary (or folder) the environment already names, or undefined to build. */
  fromEnv(env: NodeJS.ProcessEnv): { path: string; via: string } | undefined;
  /** The binary path from the script's last stdout line (a binary or a folder). */
  fromScript(last: string): string;
  version(path: string): string;
  /** The variables the tests read, pointing at what was found or built. */
  exports(path: string): Record<string, string>;
}

function mustExist(path: string, via: string): void {
  if (!existsSync(path)) throw new PrepareError([`prepare: ${via}=${path} does not exist`]);
}

/** A tool binary named by an environment variable, which must then exist. */
function binaryFrom(variable: string): GoTool['fromEnv'] {
  return (env) => {
    const path = env[variable];
    if (!path) return undefined;
    mustExist(path, variable);
    return { path, via: variable };
  };
}

const firstLine = (s: string): string => s.trim().split('\n')[0] ?? '';

const GO_TOOLS: GoTool[] = [
  {
    name: 'control plane',
    script: 'test/controlplane/build.sh',
    instead: 'KUBEBUILDER_ASSETS=<dir with kube-apiserver and etcd>, or USE_EXISTING_CLUSTER=true with KUBECONFIG',
    fromEnv(env) {
      if (!env.KUBEBUILDER_ASSETS) return undefined;
      for (const b of ['kube-apiserver', 'etcd']) mustExist(join(env.KUBEBUILDER_ASSETS, b), 'KUBEBUILDER_ASSETS');
      return { path: env.KUBEBUILDER_ASSETS, via: 'KUBEBUILDER_ASSETS' };
    },
    fromScript: (last) => last,
    version(dir) {
      const api = /v\d\S*/.exec(run(join(dir, 'kube-apiserver'), ['--version']).out)?.[0] ?? 'unknown version';
      const etcd = /etcd Version: (\S+)/.exec(run(join(dir, 'etcd'), ['--version']).out)?.[1] ?? 'unknown version';
      return `kube-apiserver ${api} + etcd ${etcd}`;
    },
    exports: (dir) => ({ KUBEBUILDER_ASSETS: dir }),
  },
  {
    name: 'Helm',
    script: 'test/tools/build-helm.sh',
    instead: 'HELM=<path to a Helm 3 binary>',
    fromEnv: binaryFrom('HELM'),
    fromScript: (last) => last,
    version: (bin) => firstLine(run(bin, ['version', '--short']).out) || 'unknown version',
    exports: (bin) => ({ HELM: bin }),
  },
  {
    name: 'Traefik',
    script: 'test/traefik/build.sh',
    instead: 'TRAEFIK_BIN=<path to a traefik v3 binary>',
    fromEnv: binaryFrom('TRAEFIK_BIN'),
    fromScript: (last) => join(last, 'traefik'),
    version: (bin) => /Version:\s+(\S+)/.exec(run(bin, ['version']).out)?.[1] ?? 'unknown version',
    exports: (bin) => ({ TRAEFIK_BIN: bin }),
  },
];

/**
 * Runs a build script. Its messages are held back until it says it is building (so a missing Go
 * becomes our one line, not its two), then streamed. Resolves the last stdout line and whether it built.
 */
async function runScript(tool: GoTool, env: NodeJS.ProcessEnv): Promise<{ last: string; built: boolean }> {
  const child = spawn('bash', [join(repoRoot, tool.script)], { env: { ...env, GOTOOLCHAIN: 'local' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let held = '';
  let streaming = false;
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => {
    if (streaming) return void process.stderr.write(c);
    held += c.toString();
    if (/: building /.test(held)) {
      streaming = true;
      process.stderr.write(held);
    }
  });
  const code = await new Promise<number | null>((res, rej) => {
    child.on('error', (err) => rej(new PrepareError([`prepare: cannot run ${tool.script}: ${err.message}`])));
    child.on('close', res);
  });
  if (code === 3) {
    // require-go.sh: Go is missing or too old; its first line says which.
    const reason = firstLine(held).replace(/^[\w-]+: /, '');
    throw new PrepareError([`prepare: ${tool.name} missing: ${reason.replace(/\.$/, '')}; or set ${tool.instead}`]);
  }
  if (code !== 0) {
    if (!streaming) process.stderr.write(held);
    throw new PrepareError([`prepare: building ${tool.name} failed (${tool.script}, exit ${code}); see above, or set ${tool.instead}`]);
  }
  return { last: stdout.trim().split('\n').pop() ?? '', built: streaming };
}

async function prepareGoTools(env: NodeJS.ProcessEnv, log: Log): Promise<Record<string, string>> {
  const exported: Record<string, string> = {};
  const failures: string[] = [];
  for (const tool of GO_TOOLS) {
    const started = Date.now();
    if (tool.name === 'control plane' && env.USE_EXISTING_CLUSTER === 'true') {
      log(`prepare: control plane not needed: USE_EXISTING_CLUSTER=true, KUBECONFIG=${env.KUBECONFIG ?? '(unset)'} (${seconds(started)} s)`);
      continue;
    }
    try {
      const given = tool.fromEnv(env);
      if (given) {
        log(`prepare: ${tool.name} ${tool.version(given.path)} found at ${given.path} (${given.via}) (${seconds(started)} s)`);
        Object.assign(exported, tool.exports(given.path));
        continue;
      }
      const { last, built } = await runScript(tool, env);
      const path = tool.fromScript(last);
      const how = built ? `built by ${tool.script} in ${Math.round((Date.now() - started) / 1000)} s` : `(${seconds(started)} s)`;
      log(`prepare: ${tool.name} ${tool.version(path)} ${built ? 'at' : 'found at'} ${path} ${how}`);
      Object.assign(exported, tool.exports(path));
    } catch (err) {
      if (!(err instanceof PrepareError)) throw err;
      failures.push(...err.lines);
    }
  }
  if (failures.length) throw new PrepareError(failures);
  return exported;
}

export interface PrepareOptions {
  env?: NodeJS.ProcessEnv;
  platform?: Platform;
  log?: Log;
}

/**
 * Finds, installs or builds every tool; resolves the variables that point the tests at the Go-built
 * ones (KUBEBUILDER_ASSETS, HELM, TRAEFIK_BIN). Throws a PrepareError whose lines say what is missing.
 */
export async function prepare(opts: PrepareOptions = {}): Promise<Record<string, string>> {
  const env = opts.env ?? process.env;
  const log = opts.log ?? ((l: string) => void process.stderr.write(`${l}\n`));
  const started = Date.now();
  // System tools first: they fail in a second, before a build that can take many minutes.
  await prepareSystemTools(env, opts.platform ?? currentPlatform(), log);
  const exported = await prepareGoTools(env, log);
  log(`prepare: ready in ${seconds(started)} s`);
  return exported;
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  try {
    await prepare();
  } catch (err) {
    process.stderr.write(`${err instanceof PrepareError ? err.message : String(err)}\n`);
    process.exit(1);
  }
}
