// Auth URLs that hide an address only the cluster reaches (cloud metadata, loopback, "this network", the
// API server): refused at admission and by the operator's schema (unit and integration tests share them).
export const HIDDEN_HOST_URLS = [
  'http://2852039166/latest/meta-data/',
  'http://0xa9fea9fe/',
  'http://0x7f000001:10246/configuration/backends',
  'http://0177.0.0.1/',
  'http://127.1/',
  'http://127.0.1/',
  'http://0/',
  'http://0.0.0.0:10246/',
  'http://169.254.169.254/latest/meta-data/',
  'http://1.2.3.04/',
  'http://kubernetes/api',
  'http://kubernetes.default/api',
  'https://kubernetes.default.svc:443/api',
  'https://kubernetes.default.svc.cluster.local/api',
  'http://[::1]/',
  'http://[::ffff:127.0.0.1]/',
  'http://[::ffff:a9fe:a9fe]/',
  'http://[fe80::1]/',
  'http://[0:0:0:0:0:0:0:1]/',
];
