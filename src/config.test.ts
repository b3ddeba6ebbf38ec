import { ConfigError, FLAGS, HELP, parseAddress, parseConfig, type OperatorConfig } from './config.ts';

const parse = (argv: string[], env: NodeJS.ProcessEnv = {}): OperatorConfig => {
  const c = parseConfig(argv, env);
  if (typeof c === 'string') throw new Error(`parsed as ${c}`);
  return c;
};

describe('parseConfig', () => {
  it('defaults to the Kubernetes operator conventions: metrics on :8080, probes on :8081, leader election on', () => {
    const c = parse([]);
    expect(c.metricsAddress).toEqual({ port: 8080 });
    expect(c.healthProbeAddress).toEqual({ port: 8081 });
    expect(c.leaderElect).toBe(true);
    expect(c.warnings).toEqual([]);
  });

  it('takes --guard-url (or APISEC_GUARD_URL) as http(s)://HOST[:PORT] only', () => {
    expect(parse([]).settings.guardURL).toBeUndefined();
    expect(parse(['--guard-url', 'http://apisec-guard.apisec-system.svc:8080/']).settings.guardURL).toBe('http://apisec-guard.apisec-system.svc:8080');
    expect(parse([], { APISEC_GUARD_URL: 'https://10.0.0.1' }).settings.guardURL).toBe('https://10.0.0.1');
    for (const bad of ['apisec-guard:8080', 'http://g/x;', 'http://g:80/check', 'http://G', 'http://g:80 ;']) expect(() => parse(['--guard-url', bad])).toThrow(/--guard-url/);
  });

  it.each<[string, { host?: string; port: number }]>([
    [':8080', { port: 8080 }],
    ['127.0.0.1:0', { host: '127.0.0.1', port: 0 }],
    ['0.0.0.0:9090', { host: '0.0.0.0', port: 9090 }],
    ['localhost:18080', { host: 'localhost', port: 18080 }],
    ['[::1]:8080', { host: '::1', port: 8080 }],
    ['[::]:8443', { host: '::', port: 8443 }],
  ])('takes --metrics-bind-address=%s', (v, want) => {
    const c = parse([`--metrics-bind-address=${v}`, `--health-probe-bind-address=${v}`]);
    expect(c.metricsAddress).toEqual(want);
    expect(c.healthProbeAddress).toEqual(want);
    expect(c.warnings).toEqual([]);
  });

  it('takes the addresses as separate arguments too', () => {
    const c = parse(['--metrics-bind-address', '127.0.0.1:18080', '--health-probe-bind-address', '127.0.0.1:18081']);
    expect(c.metricsAddress).toEqual({ host: '127.0.0.1', port: 18080 });
    expect(c.healthProbeAddress).toEqual({ host: '127.0.0.1', port: 18081 });
  });

  it.each([
    ['--metrics-bind-address=:http', /^--metrics-bind-address must be HOST:PORT \(e\.g\. :8080, 127\.0\.0\.1:0, \[::1\]:8080\), got ":http"$/],
    ['--metrics-bind-address=:', /^--metrics-bind-address must be HOST:PORT/],
    ['--metrics-bind-address=8080', /^--metrics-bind-address must be HOST:PORT .*got "8080" \(a port alone is written :8080\)$/],
    ['--metrics-bind-address=:70000', /^--metrics-bind-address must be a whole number from 0 to 65535, got "70000"$/],
    ['--metrics-bind-address=a b:80', /^--metrics-bind-address must be HOST:PORT/],
    ['--health-probe-bind-address=8081', /^--health-probe-bind-address must be HOST:PORT .*got "8081" \(a port alone is written :8081\)$/],
    ['--health-probe-bind-address=localhost', /^--health-probe-bind-address must be HOST:PORT/],
    ['--leader-elect=no', /^--leader-elect is true or false, got "no"$/],
    ['--help=yes', /^--help is true or false, got "yes"$/],
    ['--metrics-port=http', /^--metrics-port must be a whole number from 0 to 65535, got "http"$/],
    ['--workers=0', /^--workers must be a whole number from 1 to 64, got "0"$/],
    ['--log-level=loud', /^--log-level must be one of trace, debug, info, warn, error, fatal, silent, got "loud"$/],
    ['--resync=soon', /^invalid duration "soon"/],
    ['--metrics-addr=:8080', /Unknown option '--metrics-addr'/],
  ])('refuses %s with one line', (arg, message) => {
    expect(() => parseConfig([arg], {})).toThrow(message);
    try {
      parseConfig([arg], {});
    } catch (err) {
      expect((err as Error).message).not.toContain('\n');
    }
  });

  it('refuses --metrics-port next to a HOST:PORT address', () => {
    expect(() => parseConfig(['--metrics-bind-address=:8080', '--metrics-port=9090'], {})).toThrow('--metrics-port cannot be combined with --metrics-bind-address HOST:PORT (":8080"): drop --metrics-port');
  });

  it.each<[string[], boolean]>([
    [['--leader-elect'], true],
    [['--leader-elect=true'], true],
    [['--leader-elect=false'], false],
    [['--leader-elect=false', '--leader-elect'], true], // the last one wins, as in Go's flag package
  ])('reads boolean %j', (argv, want) => {
    expect(parse(argv).leaderElect).toBe(want);
  });

  it('still takes "--leader-elect false" (the old string flag) for one release, with a warning', () => {
    const c = parse(['--leader-elect', 'false', '--namespace', 'shop']);
    expect(c.leaderElect).toBe(false);
    expect(c.namespace).toBe('shop');
    expect(c.warnings).toEqual(['"--leader-elect false" is deprecated and will be removed in the next release: use --leader-elect=false']);
  });

  describe('the deprecated --metrics-port and host-only --metrics-bind-address', () => {
    it('serve metrics and probes on one server, as before, with a warning each', () => {
      const c = parse(['--metrics-port', '0', '--metrics-bind-address', '127.0.0.1']);
      expect(c.metricsAddress).toEqual({ host: '127.0.0.1', port: 0 });
      expect(c.healthProbeAddress).toBe(c.metricsAddress);
      expect(c.warnings).toEqual([
        '--metrics-port is deprecated and will be removed in the next release: use --metrics-bind-address=127.0.0.1:0',
        '--metrics-bind-address without a port ("127.0.0.1") is deprecated and will be removed in the next release: use --metrics-bind-address=127.0.0.1:0',
      ]);
    });

    it('--metrics-port alone listens on every IPv4 interface, as the old default 0.0.0.0 did', () => {
      const c = parse(['--metrics-port=9090']);
      expect(c.metricsAddress).toEqual({ host: '0.0.0.0', port: 9090 });
      expect(c.warnings).toHaveLength(1);
    });

    it('a host-only IPv6 address keeps the old default port', () => {
      expect(parse(['--metrics-bind-address=::1']).metricsAddress).toEqual({ host: '::1', port: 8080 });
      expect(parse(['--metrics-bind-address=::1']).warnings[0]).toContain('use --metrics-bind-address=[::1]:8080');
    });

    it('leave the probes where --health-probe-bind-address puts them', () => {
      const c = parse(['--metrics-port=0', '--health-probe-bind-address=127.0.0.1:0']);
      expect(c.healthProbeAddress).toEqual({ host: '127.0.0.1', port: 0 });
    });
  });

  it('limits API requests to 200/s after a burst of 400 unless told otherwise (0: no limit)', () => {
    expect(parse([])).toMatchObject({ kubeApiQps: 200, kubeApiBurst: 400 });
    expect(parse(['--kube-api-qps=0', '--kube-api-burst=10'])).toMatchObject({ kubeApiQps: 0, kubeApiBurst: 10 });
    expect(() => parse(['--kube-api-burst=0'])).toThrow('--kube-api-burst must be a whole number from 1 to 100000');
  });

  it('falls back to the environment variables the table names', () => {
    const c = parse([], { KUBECONFIG: '/k', WATCH_NAMESPACE: 'shop', APISEC_WORKERS: '4', POD_NAMESPACE: 'ops', LOG_LEVEL: 'debug', POD_NAME: 'pod-0' });
    expect(c).toMatchObject({ kubeconfig: '/k', namespace: 'shop', workers: 4, leaderElectionNamespace: 'ops', logLevel: 'debug', identity: 'pod-0' });
    expect(parse(['--namespace', 'other'], { WATCH_NAMESPACE: 'shop' }).namespace).toBe('other');
  });

  it('takes --allowed-auth-host (repeatable: exact hosts and *.suffix) and refuses what would match nothing', () => {
    expect(parse(['--allowed-auth-host', '*.auth.svc.cluster.local', '--allowed-auth-host=127.0.0.1']).settings.authHosts).toEqual(['*.auth.svc.cluster.local', '127.0.0.1']);
    expect(parse([]).settings.authHosts).toBeUndefined();
    for (const bad of ['0x7f000001', 'Auth.Example.com', 'http://a.example.com', '*.10.0.0.1']) {
      expect(() => parse(['--allowed-auth-host', bad])).toThrow(/--allowed-auth-host expects/);
    }
  });

  it('takes --rate-limit-store HOST:PORT, with or without credentials, and refuses anything else', () => {
    expect(parse([]).settings.rateLimitStore).toBeUndefined();
    expect(parse(['--rate-limit-store', 'redis.apisec-system.svc:6379']).settings.rateLimitStore).toEqual({ endpoint: 'redis.apisec-system.svc:6379', credentials: false });
    expect(parse(['--rate-limit-store=10.0.0.5:6380', '--rate-limit-store-secret=redis-auth']).settings.rateLimitStore).toEqual({ endpoint: '10.0.0.5:6380', credentials: true });
    for (const bad of ['redis', 'redis:99999', 'Redis:6379', 'redis:6379/0', 'redis://x:6379']) expect(() => parse(['--rate-limit-store', bad])).toThrow(/--rate-limit-store must be HOST:PORT/);
    expect(() => parse(['--rate-limit-store-secret', 'x'])).toThrow(/which is not set/);
  });

  it('takes --trusted-proxy CIDRs (repeatable) and refuses anything else', () => {
    expect(parse(['--trusted-proxy', '10.0.0.0/8', '--trusted-proxy=fd00::/8']).settings.trustedProxies).toEqual(['10.0.0.0/8', 'fd00::/8']);
    expect(parse([]).settings.trustedProxies).toBeUndefined();
    expect(() => parse(['--trusted-proxy', '10.0.0.1'])).toThrow(/--trusted-proxy expects a CIDR/);
  });

  it('takes --watch-timeout in whole seconds from 1s to 1h (5m by default)', () => {
    expect(parse([]).watchTimeoutSeconds).toBe(300);
    expect(parse(['--watch-timeout', '5s']).watchTimeoutSeconds).toBe(5);
    for (const bad of ['500ms', '0s', '2h', '1500ms']) expect(() => parse(['--watch-timeout', bad])).toThrow(/--watch-timeout must be whole seconds/);
    expect(parse([]).requestTimeoutMs).toBe(70_000);
    expect(parse(['--request-timeout=5s']).requestTimeoutMs).toBe(5000);
    expect(() => parse(['--request-timeout', '1h'])).toThrow(/--request-timeout must be from 1s to 10m/);
    expect(parse([]).discoveryIntervalMs).toBe(300_000);
    expect(parse(['--discovery-interval=2s']).discoveryIntervalMs).toBe(2000);
    expect(() => parse(['--discovery-interval', '0s'])).toThrow(/--discovery-interval must be from 1s to 1h/);
  });

  it('serves /metrics unauthenticated by default, and with --metrics-auth=kubernetes checks tokens over HTTPS', () => {
    expect(parse([])).toMatchObject({ metricsAuth: 'none' });
    expect(parse([]).metricsCertDir).toBeUndefined();
    expect(parse(['--metrics-auth=kubernetes'])).toMatchObject({ metricsAuth: 'kubernetes' });
    expect(parse(['--metrics-auth', 'kubernetes', '--metrics-cert-dir', '/tmp/k8s-metrics-server/serving-certs'])).toMatchObject({ metricsAuth: 'kubernetes', metricsCertDir: '/tmp/k8s-metrics-server/serving-certs' });
    expect(parse(['--metrics-auth=none', '--metrics-auth=kubernetes']).metricsAuth).toBe('kubernetes'); // the last one wins
  });

  it.each([
    [['--metrics-auth=rbac'], '--metrics-auth must be one of none, kubernetes, got "rbac"'],
    [['--metrics-auth='], '--metrics-auth must be one of none, kubernetes, got ""'],
    [['--metrics-cert-dir=/certs'], '--metrics-cert-dir needs --metrics-auth=kubernetes: /metrics is served over HTTPS only when it checks tokens'],
    [['--metrics-auth=none', '--metrics-cert-dir=/certs'], '--metrics-cert-dir needs --metrics-auth=kubernetes'],
    [['--metrics-auth=kubernetes', '--metrics-cert-dir='], '--metrics-cert-dir must name a directory with tls.crt and tls.key, got ""'],
  ])('refuses %j with one ConfigError line', (argv, message) => {
    expect(() => parseConfig(argv, {})).toThrow(ConfigError);
    expect(() => parseConfig(argv, {})).toThrow(message);
  });

  it('serves the sidecar injection webhook only with an address and a certificate directory', () => {
    expect(parse([]).webhook).toBeUndefined();
    expect(parseConfig(['--webhook-bind-address=:9443', '--webhook-cert-dir=/certs'], { POD_NAMESPACE: 'apisec' })).toMatchObject({
      webhook: { address: { port: 9443 }, certDir: '/certs', image: 'nginx:1.27-alpine', operatorNamespace: 'apisec' },
    });
    expect(parse(['--webhook-bind-address=127.0.0.1:0', '--webhook-cert-dir=/c', '--sidecar-image=nginxinc/nginx-unprivileged:1.27']).webhook).toMatchObject({
      address: { host: '127.0.0.1', port: 0 },
      image: 'nginxinc/nginx-unprivileged:1.27',
      operatorNamespace: 'apisec-system',
    });
    expect(() => parse(['--webhook-bind-address=:9443'])).toThrow('--webhook-bind-address needs --webhook-cert-dir');
    expect(() => parse(['--webhook-cert-dir=/c'])).toThrow('--webhook-cert-dir needs --webhook-bind-address');
    expect(() => parse(['--webhook-bind-address=9443', '--webhook-cert-dir=/c'])).toThrow(/--webhook-bind-address must be HOST:PORT/);
  });

  it('answers --help and --version', () => {
    expect(parseConfig(['--help'], {})).toBe('help');
    expect(parseConfig(['--version'], {})).toBe('version');
  });
});

describe('HELP', () => {
  it('is generated from FLAGS: every flag once, the deprecated ones apart', () => {
    for (const f of FLAGS) expect(HELP.match(new RegExp(`^  --${f.name}(?= |$)`, 'gm'))).toHaveLength(1);
    const [current, deprecated] = HELP.split('Deprecated flags');
    expect(current).toContain('--metrics-bind-address HOST:PORT');
    expect(current).toContain('--health-probe-bind-address HOST:PORT');
    expect(current).toMatch(/--leader-elect {2,}elect a leader/);
    expect(current).not.toContain('--metrics-port');
    expect(deprecated).toContain('--metrics-port PORT');
    expect(current).toContain('(default 10m)');
    expect(current).toContain('env KUBECONFIG');
  });

  it('keeps lines within 104 columns', () => {
    for (const line of HELP.split('\n')) expect(line.length).toBeLessThanOrEqual(104);
  });
});

describe('parseAddress', () => {
  it('leaves a value without a port to the caller (the deprecated host-only form)', () => {
    expect(parseAddress('metrics-bind-address', '127.0.0.1')).toBeUndefined();
    expect(parseAddress('metrics-bind-address', '::1')).toBeUndefined();
  });
});
