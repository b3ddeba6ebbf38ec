// The operator's logger: JSON lines (pino). JSON escapes C0 control characters itself, but not C1
// controls or bidirectional overrides, which some terminals act on; strings that reach a log line from
// objects anyone may write (names, messages of the API server quoting them) pass through inert() first.
import { pino, type DestinationStream, type Logger } from 'pino';
import { inert } from '../render/text.ts';

const MAX_FIELD = 4096;

const clean = (v: unknown): unknown => (typeof v === 'string' ? inert(v, MAX_FIELD) : v);

/** `destination`: where lines go (stdout by default; tests pass a stream). */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  const options = {
    level,
    base: { component: 'api-security-operator' },
    formatters: { log: (obj) => Object.fromEntries(Object.entries(obj).map(([k, v]) => [k, clean(v)])) },
    hooks: {
      logMethod(args, method) {
        method.apply(this, args.map(clean) as Parameters<typeof method>);
      },
    },
  } satisfies Parameters<typeof pino>[0];
  return destination ? pino(options, destination) : pino(options);
}
