// apisec: the command line (`apisec check | render | report`, also `kubectl apisec`). Parses flags, does
// the I/O (files, stdin, the cluster) and hands parsed documents to the pure core. Errors become one line
// on stderr and exit code 2; a stack trace only with --debug.
import { readFileSync, realpathSync } from 'node:fs';
import { basename } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { ConfigError, oneOf as configOneOf, parseDuration, parseGuardURL, parseIngressClasses } from '../config.ts';
import { defaultSettings, type OperatorSettings, type Provider } from '../render/types.ts';
import { assessInventory, check, judge, type FailOn, type Thresholds } from './check.ts';
import { parseDocuments, type Source } from './documents.ts';
import { CliError, UsageError } from './errors.ts';
import { CHECK_FORMATS, formatCheck, type CheckFormat } from './format-check.ts';
import { checkHelp, importHelp, mainHelp, renderHelp, reportHelp } from './help.ts';
import { buildInventory, type Inventory } from './inventory.ts';
import { readSources } from './io.ts';
import { formatImported, importIngress, NGINX_PREFIX } from './import.ts';
import { formatYaml, writtenObjects } from './render-output.ts';
import { formatComparisons, whatIf, WHAT_IF_PROVIDERS } from './what-if.ts';
import { REPORT_FORMATS, type ReportFormat } from './report.ts';
import { wantColor } from './text.ts';

export interface Io {
  stdout: { write(s: string): unknown };
  stderr: { write(s: string): unknown };
  readStdin: () => Promise<string>;
  cwd: string;
  env: Record<string, string | undefined>;
  stdoutIsTTY: boolean;
  /** "apisec", or "kubectl apisec" when run as a kubectl plugin. */
  name: string;
}

export function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

type Parsed = ReturnType<typeof parseArgs>;

const print = (out: Io['stdout'], text: string, code: number): number => {
  out.write(text);
  return code;
};

function parse(argv: string[], options: Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }>): Parsed {
  try {
    return parseArgs({ args: argv, options: { ...options, help: { type: 'boolean', short: 'h' }, debug: { type: 'boolean' } }, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message.replace(/\. To specify a positional argument.*$/, ''));
  }
}

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const strs = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);

/** The operator's own value parsers (src/config.ts), their errors as usage errors. */
function usage<T>(parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    throw err instanceof ConfigError ? new UsageError(err.message) : err;
  }
}

function oneOf<T extends string>(flag: string, value: string | undefined, allowed: readonly T[], fallback: T): T {
  return value === undefined ? fallback : usage(() => configOneOf(flag.replace(/^--/, ''), value, allowed));
}

function settingsFrom(values: Parsed['values']): OperatorSettings {
  const guard = str(values['guard-url']);
  return {
    ingressClasses: usage(() => parseIngressClasses(strs(values['ingress-class']))),
    ingressControllers: { ...defaultSettings.ingressControllers },
    ...(guard !== undefined ? { guardURL: usage(() => parseGuardURL(guard)) } : {}),
  };
}

const INPUT_FLAGS = {
  filename: { type: 'string', short: 'f', multiple: true },
  namespace: { type: 'string', short: 'n' },
  'ingress-class': { type: 'string', multiple: true },
  'guard-url': { type: 'string' },
  'stdin-filename': { type: 'string' },
} as const;

async function readInventory(values: Parsed['values'], positionals: string[], io: Io, command: string): Promise<Inventory> {
  const paths = [...strs(values.filename), ...positionals];
  if (!paths.length) throw new UsageError(`${command} needs input: files, directories, or - for stdin`);
  const sources: Source[] = await readSources(paths, { cwd: io.cwd, readStdin: io.readStdin, stdinName: str(values['stdin-filename']) ?? 'stdin' });
  return buildInventory(sources.flatMap(parseDocuments), str(values.namespace) ?? 'default');
}

async function runCheck(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(argv, {
    ...INPUT_FLAGS,
    output: { type: 'string', short: 'o' },
    'fail-on': { type: 'string' },
    'min-score': { type: 'string' },
    'allow-uncovered': { type: 'boolean' },
  });
  if (values.help) return print(io.stdout, checkHelp(io.name), 0);
  const format = oneOf<CheckFormat>('--output', str(values.output), CHECK_FORMATS, 'table');
  const minScore = str(values['min-score']) ?? '0';
  if (!/^\d+$/.test(minScore) || Number(minScore) > 100) throw new UsageError(`--min-score must be a whole number from 0 to 100, got "${minScore}"`);
  const thresholds: Thresholds = {
    failOn: oneOf<FailOn>('--fail-on', str(values['fail-on']), ['fail', 'warn', 'never'], 'fail'),
    minScore: Number(minScore),
    allowUncovered: values['allow-uncovered'] === true,
  };
  const settings = settingsFrom(values);
  const inv = await readInventory(values, positionals, io, 'check');
  if (!inv.policies.length && !inv.ingresses.length && !inv.services.length) io.stderr.write(`${io.name}: note: no ApiSecurityPolicy, Ingress or Service in the input\n`);
  const result = check(inv, settings);
  // Machine formats go to stdout whole; invalid policies are repeated on stderr for the CI log.
  if (format !== 'table') for (const e of result.errors) io.stderr.write(`${io.name}: ${e.at.file}:${e.at.line}: ApiSecurityPolicy ${e.namespace}/${e.name}: ${e.message}\n`);
  const out = formatCheck(result, format, { thresholds, version: version(), color: format === 'table' && wantColor(io.stdoutIsTTY, io.env) });
  io.stdout.write(out);
  return judge(result, thresholds).exitCode;
}

async function runRender(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(argv, { ...INPUT_FLAGS, provider: { type: 'string' } });
  if (values.help) return print(io.stdout, renderHelp(io.name), 0);
  const settings = settingsFrom(values);
  const provider = str(values.provider);
  const target = provider === undefined ? undefined : oneOf<Provider>('--provider', provider, WHAT_IF_PROVIDERS, 'ingress-nginx');
  const inv = await readInventory(values, positionals, io, 'render');
  const { assessed, errors } = assessInventory(inv, settings);
  // --provider: the same policies on another data plane, with what changes for each control.
  const what = target === undefined ? undefined : whatIf(inv, settings, target);
  const { objects, notes } = what ?? writtenObjects(assessed);
  if (what && target) io.stdout.write(formatComparisons(what.comparisons, target));
  io.stdout.write(formatYaml(objects));
  for (const n of notes) io.stderr.write(`${io.name}: note: ${n}\n`);
  for (const e of errors) io.stderr.write(`${io.name}: ${e.at.file}:${e.at.line}: ApiSecurityPolicy ${e.namespace}/${e.name}: ${e.message}\n`);
  return errors.length ? 2 : 0;
}

/** ingress-nginx annotated Ingresses → ApiSecurityPolicies on stdout; what was not carried over in each. */
async function runImport(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(argv, { filename: INPUT_FLAGS.filename, namespace: INPUT_FLAGS.namespace, 'stdin-filename': INPUT_FLAGS['stdin-filename'] });
  if (values.help) return print(io.stdout, importHelp(io.name), 0);
  const inv = await readInventory(values, positionals, io, 'import');
  const annotated = inv.ingresses.filter((i) => Object.keys(i.object.metadata.annotations ?? {}).some((k) => k.startsWith(NGINX_PREFIX)));
  const imported = annotated.map(importIngress);
  io.stdout.write(formatImported(imported));
  const dropped = imported.reduce((n, i) => n + i.dropped.length, 0);
  const plain = inv.ingresses.length - annotated.length;
  io.stderr.write(
    `${io.name}: imported ${imported.length} Ingress(es)${plain ? `; ${plain} without ingress-nginx annotations skipped` : ''}; ${dropped} annotation(s) not carried over (listed above each policy)\n`,
  );
  return 0;
}

async function runReport(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(argv, {
    kubeconfig: { type: 'string' },
    context: { type: 'string' },
    namespace: { type: 'string', short: 'n' },
    output: { type: 'string', short: 'o' },
    'request-timeout': { type: 'string' },
  });
  if (values.help) return print(io.stdout, reportHelp(io.name), 0);
  if (positionals.length) throw new UsageError(`report takes no arguments, got "${positionals.join(' ')}"`);
  const format = oneOf<ReportFormat>('--output', str(values.output), REPORT_FORMATS, 'table');
  const timeout = str(values['request-timeout']) ?? '30s';
  const timeoutMs = usage(() => parseDuration(timeout));
  if (timeoutMs === 0) throw new UsageError(`--request-timeout must be a duration such as 10s or 1m, got "${timeout}"`);
  // The cluster side loads only when asked for, so check and render work without a kubeconfig.
  const { reportFromCluster } = await import('./cluster.ts');
  const out = await reportFromCluster({
    kubeconfig: str(values.kubeconfig),
    context: str(values.context),
    namespace: str(values.namespace),
    timeoutMs,
    format,
    color: format === 'table' && wantColor(io.stdoutIsTTY, io.env),
    warn: (line) => io.stderr.write(`${io.name}: note: ${line}\n`),
  });
  io.stdout.write(out);
  return 0;
}

async function runGuard(argv: string[], io: Io): Promise<number> {
  // Loaded only when asked for: check and render need no API client.
  const { parseGuardConfig, runGuardCommand } = await import('../guard/main.ts');
  return runGuardCommand(usage(() => parseGuardConfig(argv, io.env)), io.stdout);
}

const COMMANDS: Record<string, (argv: string[], io: Io) => Promise<number>> = { check: runCheck, render: runRender, import: runImport, report: runReport, guard: runGuard };

/** Runs one command line; returns the exit code. Never throws. */
export async function main(argv: string[], io: Io): Promise<number> {
  const debug = argv.includes('--debug');
  const [command, ...rest] = argv;
  try {
    if (command === undefined) return print(io.stderr, mainHelp(io.name), 2);
    if (command === '--help' || command === '-h' || command === 'help') {
      const topic = rest[0];
      return topic && COMMANDS[topic] ? await main([topic, '--help'], io) : print(io.stdout, mainHelp(io.name), 0);
    }
    if (command === '--version') return print(io.stdout, `${version()}\n`, 0);
    const run = COMMANDS[command];
    if (!run) throw new UsageError(command.startsWith('-') ? `unknown flag ${command} before the command` : `unknown command "${command}" (check, render, import, report or guard)`);
    return await run(rest, io);
  } catch (err) {
    const e = err instanceof Error ? err : new Error(String(err));
    const known = err instanceof CliError;
    const hint = err instanceof UsageError ? `\nRun "${io.name}${command && COMMANDS[command] ? ` ${command}` : ''} --help" for usage.` : '';
    io.stderr.write(`${io.name}: ${known ? '' : 'internal error: '}${e.message}${hint}\n`);
    if (debug && e.stack) io.stderr.write(`${e.stack}\n`);
    else if (!known) io.stderr.write('Run with --debug for the stack trace.\n');
    return 2;
  }
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(typeof c === 'string' ? Buffer.from(c) : c);
  return Buffer.concat(chunks).toString('utf8');
}

/** The process binding: real stdio, cwd and environment. */
export async function cli(argv = process.argv.slice(2)): Promise<void> {
  const invokedAs = basename(process.argv[1] ?? '');
  // A reader that stops early (`apisec render | head`) is not an error: keep the command's exit code.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE' && err.code !== 'ERR_STREAM_DESTROYED') throw err;
    });
  }
  process.exitCode = await main(argv, {
    stdout: process.stdout,
    stderr: process.stderr,
    readStdin: () => readAll(process.stdin),
    cwd: process.cwd(),
    env: process.env,
    stdoutIsTTY: process.stdout.isTTY === true,
    name: invokedAs.startsWith('kubectl-apisec') ? 'kubectl apisec' : 'apisec',
  });
}

function invokedDirectly(): boolean {
  try {
    return import.meta.url === pathToFileURL(realpathSync(process.argv[1] ?? '')).href;
  } catch {
    return false;
  }
}

// `node src/cli/main.ts ...` runs it directly; bin/apisec.js imports it and calls cli().
if (invokedDirectly()) await cli();
