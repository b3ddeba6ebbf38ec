// What a NetworkPolicy peer admits: read the same way where the score warns about world-open peers
// (evaluate.ts) and where a baseline forbids them (baseline.ts).
import type { ApiSecurityPolicySpec } from '../api/v1alpha1.ts';

export type NetworkPeer = NonNullable<ApiSecurityPolicySpec['network']>['allowFrom'][number];

const selectsAll = (s: { matchLabels?: unknown; matchExpressions?: unknown } | undefined): boolean => s !== undefined && !s.matchLabels && !s.matchExpressions;

/** The prefix length of a CIDR (0 for `0.0.0.0/0`). */
export const prefixLength = (cidr: string): number => Number(cidr.split('/')[1] ?? '0');

/** Every pod of every namespace: an empty namespaceSelector, with no podSelector or an empty one. */
export const admitsEveryNamespace = (p: NetworkPeer): boolean => selectsAll(p.namespaceSelector) && (p.podSelector === undefined || selectsAll(p.podSelector));
