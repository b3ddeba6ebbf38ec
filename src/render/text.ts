// Making foreign text inert before it reaches a status message, an Event, a log line or a terminal: an
// Ingress class, a manager name or an annotation value is whatever its writer put there, including
// escape sequences (which repaint a terminal) and values far larger than a status field takes.
// Control characters (C0, DEL, C1) and the bidirectional overrides that reorder displayed text become
// visible \uXXXX escapes; the result is clipped to `max` characters.

// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
// eslint-disable-next-line no-control-regex
const UNSAFE_LINE = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

const escape = (c: string): string => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;

/** Foreign text made printable and bounded; newlines and tabs are kept unless `oneLine`. */
export function inert(text: string, max: number, oneLine = false): string {
  const clean = text.replace(oneLine ? UNSAFE_LINE : UNSAFE, escape);
  if (clean.length <= max) return clean;
  return `${clean.slice(0, Math.max(0, max - 1))}…`;
}

/** Every string in a plain JSON-like value made inert (for text renderings of whole results). */
export function inertDeep<T>(value: T, max = 4096): T {
  if (typeof value === 'string') return inert(value, max) as T;
  if (Array.isArray(value)) return value.map((v: unknown) => inertDeep(v, max)) as T;
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, inertDeep(v, max)])) as T;
  }
  return value;
}
