// The preparation step's decisions (test/tools/prepare.ts): when it may install with apt-get, the one
// line per missing tool otherwise, where it looks for nginx; and the step itself refusing a broken NGINX.
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../support/controlplane.ts';
import { NGINX, SETPRIV, findNginx, isDebianLike, nginxCandidates, planSystemTools, whyNoApt } from '../tools/prepare.ts';

const debian = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nID=debian\n';
const ubuntu = 'NAME="Ubuntu"\nVERSION_ID="24.04"\nID=ubuntu\nID_LIKE=debian\n';
const mint = 'NAME="Linux Mint"\nID=linuxmint\nID_LIKE="ubuntu debian"\n';
const fedora = 'NAME="Fedora Linux"\nID=fedora\n';

describe('the preparation step', () => {
  it('knows Debian, Ubuntu and their derivatives from os-release', () => {
    expect([debian, ubuntu, mint].map(isDebianLike)).toEqual([true, true, true]);
    expect([fedora, 'ID=debianish\n', '', undefined].map(isDebianLike)).toEqual([false, false, false, false]);
  });

  it('uses apt-get only as root on Debian/Ubuntu', () => {
    expect(whyNoApt({ uid: 0, osRelease: debian })).toBeUndefined();
    expect(whyNoApt({ uid: 0, osRelease: ubuntu })).toBeUndefined();
    expect(whyNoApt({ uid: 1000, osRelease: debian })).toBe('not root');
    expect(whyNoApt({ uid: undefined, osRelease: debian })).toBe('not root');
    expect(whyNoApt({ uid: 0, osRelease: fedora })).toBe('not Debian/Ubuntu');
    expect(whyNoApt({ uid: 0, osRelease: undefined })).toBe('not Debian/Ubuntu');
  });

  it('installs what is missing as root on Debian', () => {
    const plan = planSystemTools([{ tool: NGINX }, { tool: SETPRIV }], { uid: 0, osRelease: debian });
    expect(plan).toEqual({ install: [{ tool: NGINX }, { tool: SETPRIV }] });
  });

  it('otherwise refuses with one line per missing tool, naming the package and the variable', () => {
    const plan = planSystemTools([{ tool: NGINX }, { tool: SETPRIV }], { uid: 1000, osRelease: debian });
    expect(plan).toEqual({
      refuse: [
        'prepare: nginx missing: install the Debian package nginx-light (apt-get install nginx-light), or set NGINX=<path to nginx> [not installed here: not root]',
        'prepare: setpriv missing: install the Debian package util-linux (apt-get install util-linux) [not installed here: not root]',
      ],
    });
    const onFedora = planSystemTools([{ tool: NGINX }], { uid: 0, osRelease: fedora });
    expect(onFedora).toEqual({ refuse: [expect.stringMatching(/nginx-light.*NGINX=.*not Debian\/Ubuntu/)] });
  });

  it('never overrides a variable that names a broken binary, even where it could install', () => {
    const plan = planSystemTools([{ tool: NGINX, badEnv: '/opt/none/nginx' }], { uid: 0, osRelease: debian });
    expect(plan).toEqual({ refuse: ['prepare: nginx missing: NGINX=/opt/none/nginx does not run; point it at a working nginx (Debian package nginx-light) or unset it'] });
  });

  it('looks for nginx in NGINX alone when set, else on PATH, then in the sbin folders', () => {
    expect(nginxCandidates({ NGINX: '/x/nginx', PATH: '/usr/bin' })).toEqual(['/x/nginx']);
    expect(nginxCandidates({ PATH: '/opt/a:/usr/sbin' })).toEqual(['/opt/a/nginx', '/usr/sbin/nginx', '/usr/local/sbin/nginx', '/usr/local/nginx/sbin/nginx']);
  });

  it('counts as found only an nginx whose -v succeeds, with its version', () => {
    const dir = mkdtempSync(join(tmpdir(), 'apisec-prepare-'));
    try {
      const good = join(dir, 'good');
      const bad = join(dir, 'bad');
      writeFileSync(good, '#!/bin/sh\necho "nginx version: nginx/9.8.7" >&2\n');
      writeFileSync(bad, '#!/bin/sh\nexit 1\n');
      chmodSync(good, 0o755);
      chmodSync(bad, 0o755);
      expect(findNginx({ NGINX: good })).toEqual({ path: good, version: '9.8.7' });
      expect(findNginx({ NGINX: bad })).toBeUndefined();
      expect(findNginx({ NGINX: join(dir, 'absent') })).toBeUndefined();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('npm run prepare:test with a broken NGINX: exit 1, one line, no stack trace, nothing built', () => {
    const r = spawnSync(process.execPath, [join(repoRoot, 'test/tools/prepare.ts')], {
      encoding: 'utf8',
      env: { ...process.env, NGINX: '/nonexistent/nginx' },
      timeout: 30_000,
    });
    expect(r.status).toBe(1);
    const lines = r.stderr.trim().split('\n');
    expect(lines.filter((l) => l.includes('missing'))).toEqual(['prepare: nginx missing: NGINX=/nonexistent/nginx does not run; point it at a working nginx (Debian package nginx-light) or unset it']);
    expect(r.stderr).not.toMatch(/\n\s+at |control plane|Helm|Traefik/);
  });
});
