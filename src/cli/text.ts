// Plain-text helpers: column layout and ANSI colour that is off unless the caller turns it on (a TTY
// without NO_COLOR), so pipes, files and CI logs get plain text.

export interface Paint {
  red(s: string): string;
  yellow(s: string): string;
  green(s: string): string;
  dim(s: string): string;
  bold(s: string): string;
}

const sgr = (open: number, close: number) => (s: string): string => `\u001b[${open}m${s}\u001b[${close}m`;
const same = (s: string): string => s;

export const paint = (color: boolean): Paint =>
  color
    ? { red: sgr(31, 39), yellow: sgr(33, 39), green: sgr(32, 39), dim: sgr(2, 22), bold: sgr(1, 22) }
    : { red: same, yellow: same, green: same, dim: same, bold: same };

/** https://no-color.org: any non-empty NO_COLOR turns colour off; otherwise colour only on a terminal. */
export const wantColor = (isTTY: boolean | undefined, env: Record<string, string | undefined>): boolean => Boolean(isTTY) && !env.NO_COLOR;

/** A cell: its text, and how to colour it after padding (so the escape codes do not skew widths). */
export type Cell = string | { text: string; style?: (s: string) => string };

const width = (s: string): number => [...s].length;

/** Left-aligned columns separated by two spaces; the last column is not padded. */
export function columns(rows: Cell[][], indent = ''): string {
  const text = (c: Cell): string => (typeof c === 'string' ? c : c.text);
  const widths: number[] = [];
  for (const row of rows) row.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, width(text(c)))));
  const line = (row: Cell[]): string =>
    row
      .map((c, i) => {
        const t = text(c);
        const padded = i === row.length - 1 ? t : t + ' '.repeat(widths[i]! - width(t));
        return typeof c === 'string' || !c.style ? padded : c.style(padded);
      })
      .join('  ');
  return rows.map((row) => (indent + line(row)).trimEnd()).join('\n');
}

export const plural = (n: number, one: string, many = `${one}s`): string => `${n} ${n === 1 ? one : many}`;
