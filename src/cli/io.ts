// The file side of the CLI: files, directories (recursively, *.yaml, *.yml, *.json) and "-" for stdin,
// read into sources named relative to the working directory so reports point at repository paths.
import { codeUnitOrder } from '../util/order.ts';
import { readFile, readdir, stat } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve } from 'node:path';
import type { Source } from './documents.ts';
import { InputError } from './errors.ts';

export interface ReadOptions {
  cwd: string;
  readStdin: () => Promise<string>;
  /** How stdin is named in messages and reports. */
  stdinName: string;
}

const MANIFEST = /\.(ya?ml|json)$/i;

function displayName(cwd: string, abs: string): string {
  const rel = relative(cwd, abs);
  return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel.split('\\').join('/') : abs;
}

async function walk(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const files: string[] = [];
  for (const e of entries.sort((a, b) => codeUnitOrder(a.name, b.name))) {
    // Hidden folders (.git, .github) and installed packages hold no manifests of the application.
    if (e.isDirectory() && !e.name.startsWith('.') && e.name !== 'node_modules') files.push(...(await walk(join(dir, e.name))));
    else if (e.isFile() && MANIFEST.test(e.name)) files.push(join(dir, e.name));
  }
  return files;
}

const reason = (err: unknown): string => {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOENT' ? 'no such file or directory' : code === 'EACCES' ? 'permission denied' : (err as Error).message;
};

export async function readSources(paths: string[], opts: ReadOptions): Promise<Source[]> {
  const sources: Source[] = [];
  let stdinRead = false;
  for (const p of paths) {
    if (p === '-') {
      if (stdinRead) throw new InputError('"-" (stdin) given twice');
      stdinRead = true;
      sources.push({ file: opts.stdinName, text: await opts.readStdin() });
      continue;
    }
    const abs = resolve(opts.cwd, p);
    let files: string[];
    try {
      files = (await stat(abs)).isDirectory() ? await walk(abs) : [abs];
    } catch (err) {
      throw new InputError(`cannot read ${p}: ${reason(err)}`);
    }
    if (files.length === 0) throw new InputError(`${p}: no .yaml, .yml or .json files in this directory`);
    for (const f of files) {
      try {
        sources.push({ file: displayName(opts.cwd, f), text: await readFile(f, 'utf8') });
      } catch (err) {
        throw new InputError(`cannot read ${displayName(opts.cwd, f)}: ${reason(err)}`);
      }
    }
  }
  return sources;
}
