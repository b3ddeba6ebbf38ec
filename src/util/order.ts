// One order for every sorted output (generated objects, status lists, CLI files): UTF-16 code units, as
// Go's sort.Strings and the API server do. localeCompare depends on the ICU data and locale the process
// runs with, so two replicas (or the CLI and the operator) could order — and hash — the same input apart.

/** Compares strings by UTF-16 code units: locale-independent and total. */
export const codeUnitOrder = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
