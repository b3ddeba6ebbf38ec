// The Node.js flags the chart gives the operator for a memory limit (charts/api-security-operator/
// templates/_helpers.tpl, apisec.nodeOptions; test/unit/helm-chart.test.ts holds the two equal), so the
// benchmarks measure the operator as a pod with that limit runs it: `--memory-limit MiB` (default: the
// chart's 256), 0 for Node's own defaults.
export const CHART_MEMORY_LIMIT_MIB = 256;

/** A 16 MB young generation and an old space of the limit minus 128 MiB (at least 64). */
export function podNodeFlags(limitMiB: number): string[] {
  if (limitMiB <= 0) return [];
  return ['--max-semi-space-size=16', `--max-old-space-size=${Math.max(64, limitMiB - 128)}`];
}

/** The --memory-limit option's value: a whole number of MiB, 0 or more. */
export function memoryLimitOption(v: string | undefined): number {
  const n = Number(v ?? CHART_MEMORY_LIMIT_MIB);
  if (!Number.isInteger(n) || n < 0) throw new Error('--memory-limit must be a whole number of MiB (0: Node defaults)');
  return n;
}
