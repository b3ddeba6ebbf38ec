// jest runs in ESM mode (node --experimental-vm-modules, see package.json) because
// @kubernetes/client-node is ESM-only. Sources import siblings with ".ts" extensions
// (Node 24 runs them directly); ts-jest rewrites those to ".js", mapped back here.
const tsJest = ['ts-jest', { useESM: true, tsconfig: 'tsconfig.json' }];
const shared = {
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: { '^.+\\.ts$': tsJest },
  testEnvironment: 'node',
};

/** @type {import('jest').Config} */
export default {
  projects: [
    { ...shared, displayName: 'unit', testMatch: ['<rootDir>/src/**/*.test.ts', '<rootDir>/test/unit/**/*.test.ts'] },
    {
      ...shared,
      displayName: 'integration',
      testMatch: ['<rootDir>/test/integration/**/*.test.ts'],
      globalSetup: '<rootDir>/test/support/global-setup.mjs',
      globalTeardown: '<rootDir>/test/support/global-teardown.mjs',
      slowTestThreshold: 30,
    },
    {
      // Real faults (a killed API server, a cut or stalled connection): each file starts its own control
      // plane, which it breaks; the setup only prepares the tools. npm run test:faults.
      ...shared,
      displayName: 'faults',
      testMatch: ['<rootDir>/test/faults/**/*.test.ts'],
      globalSetup: '<rootDir>/test/support/faults-setup.mjs',
      slowTestThreshold: 60,
    },
  ],
  testTimeout: 60_000,
  // Integration files share one API server and some run a cluster-wide operator: one file at a time.
  maxWorkers: 1,
};
