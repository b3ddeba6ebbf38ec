// connect: a client from a kubeconfig, with errors that say what to fix.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeconfigError, connect } from './connect.ts';

describe('connect', () => {
  const dir = mkdtempSync(join(tmpdir(), 'apisec-connect-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const kubeconfig = (current: string): string => {
    const path = join(dir, `${current || 'none'}.kubeconfig`);
    writeFileSync(
      path,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'c', cluster: { server: 'https://127.0.0.1:6443/' } }],
        users: [{ name: 'u', user: { token: 't' } }],
        contexts: [
          { name: 'dev', context: { cluster: 'c', user: 'u' } },
          { name: 'prod', context: { cluster: 'c', user: 'u' } },
        ],
        'current-context': current,
      }),
    );
    return path;
  };

  it('uses the current context, or the one asked for', () => {
    expect(connect({ kubeconfig: kubeconfig('dev') }).server).toBe('https://127.0.0.1:6443');
    expect(connect({ kubeconfig: kubeconfig(''), context: 'prod' }).config.getCurrentContext()).toBe('prod');
  });

  it.each<[string, { kubeconfig?: string; context?: string }, RegExp]>([
    ['a missing file', { kubeconfig: join(dir, 'absent') }, /^cannot load kubeconfig .*absent: .*no such file/],
    ['an unknown context', { kubeconfig: kubeconfig('dev'), context: 'stage' }, /^context "stage" is not in the kubeconfig \(contexts: dev, prod\)$/],
    ['no current context', { kubeconfig: kubeconfig('') }, /names no current context/],
  ])('explains %s', (_name, opts, message) => {
    expect(() => connect(opts)).toThrow(KubeconfigError);
    expect(() => connect(opts)).toThrow(message);
  });
});
