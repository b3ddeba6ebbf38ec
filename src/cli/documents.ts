// Multi-document YAML (or JSON) → plain objects, each with the file and line it starts on, so every
// finding can point at its source. Pure: the caller reads the files.
import { LineCounter, isMap, isScalar, isSeq, parseAllDocuments, type Node } from 'yaml';
import { InputError } from './errors.ts';

export interface Source {
  /** Shown in messages and reports: a path relative to the working directory, or the stdin name. */
  file: string;
  text: string;
}

export interface Location {
  file: string;
  line: number;
}

export interface Doc extends Location {
  object: Record<string, unknown>;
  /** The line of a field, e.g. ['spec', 'targetRefs', 0]; of its closest present parent when missing. */
  lineOf: (path: readonly PropertyKey[]) => number;
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Parses every document of a source; the first syntax error throws with file:line:column. */
export function parseDocuments(src: Source): Doc[] {
  const lc = new LineCounter();
  const out: Doc[] = [];
  for (const doc of parseAllDocuments(src.text, { lineCounter: lc, uniqueKeys: true })) {
    const err = doc.errors[0];
    if (err) {
      const pos = err.linePos?.[0];
      // yaml repeats the position and a code excerpt after the first line; keep one line.
      const text = err.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
      throw new InputError(`${src.file}:${pos ? `${pos.line}:${pos.col}` : '?'}: invalid YAML: ${text}`);
    }
    const line = (node: Node | null | undefined): number => lc.linePos(node?.range?.[0] ?? doc.range[0]).line;
    const lineOf = (root: Node | null | undefined) => (path: readonly PropertyKey[]): number => {
      // Walk down as far as the path exists; the line is that of the last key (or item) found.
      let node = root;
      let found = root;
      for (const key of path) {
        if (isMap(node)) {
          const pair = node.items.find((p) => isScalar(p.key) && p.key.value === key);
          if (!pair) break;
          found = pair.key as Node;
          node = pair.value as Node | null;
        } else if (isSeq(node) && typeof key === 'number' && node.items[key]) {
          found = node = node.items[key] as Node;
        } else break;
      }
      return line(found);
    };
    const value: unknown = doc.toJS({ maxAliasCount: 1000 });
    if (!isObject(value)) continue;
    // A List (kubectl get -o yaml) stands for its items, each at its own line.
    if (typeof value.kind === 'string' && value.kind.endsWith('List') && Array.isArray(value.items) && isMap(doc.contents)) {
      const items = doc.contents.get('items', true);
      value.items.forEach((item, i) => {
        const node = isSeq(items) ? (items.items[i] as Node | undefined) : undefined;
        if (isObject(item)) out.push({ file: src.file, line: line(node), object: item, lineOf: lineOf(node) });
      });
      continue;
    }
    out.push({ file: src.file, line: line(doc.contents), object: value, lineOf: lineOf(doc.contents) });
  }
  return out;
}
