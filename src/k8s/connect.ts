// The one way to a client from a kubeconfig (the operator, the apisec CLI, tests and scripts), with errors a
// person can act on: a missing or unreadable file, an unknown context, a kubeconfig without a current context.
import { KubeConfig } from '@kubernetes/client-node';
import { KubeClient, type KubeClientOptions } from './client.ts';

export class KubeconfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KubeconfigError';
  }
}

/** kubeconfig: a path, or the default (KUBECONFIG, ~/.kube/config, in-cluster); context: a context in it. */
export function connect(opts: { kubeconfig?: string | undefined; context?: string | undefined } = {}, clientOptions: KubeClientOptions = {}): KubeClient {
  const kc = new KubeConfig();
  try {
    if (opts.kubeconfig) kc.loadFromFile(opts.kubeconfig);
    else kc.loadFromDefault();
  } catch (err) {
    const where = opts.kubeconfig ?? process.env.KUBECONFIG ?? 'the default kubeconfig';
    throw new KubeconfigError(`cannot load kubeconfig ${where}: ${(err as Error).message.split('\n')[0]}`);
  }
  if (opts.context) {
    if (!kc.getContextObject(opts.context)) {
      const known = kc.getContexts().map((c) => c.name).join(', ') || 'none';
      throw new KubeconfigError(`context "${opts.context}" is not in the kubeconfig (contexts: ${known})`);
    }
    kc.setCurrentContext(opts.context);
  }
  if (!kc.getCurrentCluster()) throw new KubeconfigError('the kubeconfig names no current context with a cluster; pass --context');
  try {
    return new KubeClient(kc, clientOptions); // reads the CA and client certificate files
  } catch (err) {
    throw new KubeconfigError(`cannot use the kubeconfig's cluster or user: ${(err as Error).message.split('\n')[0]}`);
  }
}
