// Delegated authentication and authorization, as kube-rbac-proxy and controller-runtime's secure metrics
// do them: the API server says who a bearer token belongs to (TokenReview) and whether that user may do
// something (SubjectAccessReview). Both are create-only, cluster-scoped and stored nowhere; the operator's
// identity needs `create` on tokenreviews and subjectaccessreviews. The token is sent only in the
// review's body and never appears in an error message (ApiError carries the server's reason).
import type { KubeClient } from './client.ts';

/** Who the API server says a token belongs to. */
export interface ReviewedUser {
  username: string;
  uid?: string;
  groups?: string[];
  extra?: Record<string, string[]>;
}

/** A non-resource request, e.g. GET /metrics. */
export interface NonResourceAttributes {
  path: string;
  verb: string;
}

interface TokenReviewStatus {
  authenticated?: boolean;
  user?: ReviewedUser;
  error?: string;
}

interface SubjectAccessReviewStatus {
  allowed?: boolean;
  denied?: boolean;
  reason?: string;
}

/** The user of a bearer token, or undefined when the API server does not authenticate it. */
export async function reviewToken(client: KubeClient, token: string, signal?: AbortSignal): Promise<ReviewedUser | undefined> {
  const review = await client.request<{ status?: TokenReviewStatus }>('POST', '/apis/authentication.k8s.io/v1/tokenreviews', {
    verb: 'create',
    body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token } },
    ...(signal ? { signal } : {}),
  });
  const { authenticated, user } = review.status ?? {};
  return authenticated && user?.username ? user : undefined;
}

/** Whether the user may make this non-resource request (RBAC's nonResourceURLs), and the server's reason. */
export async function reviewAccess(client: KubeClient, user: ReviewedUser, attributes: NonResourceAttributes, signal?: AbortSignal): Promise<{ allowed: boolean; reason?: string }> {
  const spec = {
    user: user.username,
    ...(user.uid ? { uid: user.uid } : {}),
    ...(user.groups ? { groups: user.groups } : {}),
    ...(user.extra ? { extra: user.extra } : {}),
    nonResourceAttributes: { path: attributes.path, verb: attributes.verb },
  };
  const review = await client.request<{ status?: SubjectAccessReviewStatus }>('POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews', {
    verb: 'create',
    body: { apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview', spec },
    ...(signal ? { signal } : {}),
  });
  const { allowed, denied, reason } = review.status ?? {};
  return { allowed: allowed === true && denied !== true, ...(reason ? { reason } : {}) };
}

/** The review resources, which are not writes of state (main.ts leaves them out of apisec_writes_total). */
export const REVIEW_RESOURCES: ReadonlySet<string> = new Set(['tokenreviews', 'subjectaccessreviews']);
