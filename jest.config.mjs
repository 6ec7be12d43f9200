// ts-jest in ESM mode: sources import each other with .ts extensions (Node 24 runs the test bed without a build), so
// ts-jest only transpiles; `npm run typecheck` (tsc) does the type checking once for everything.
export default {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  transform: {
    '^.+\\.ts$': ['ts-jest', { useESM: true, tsconfig: 'tsconfig.json', diagnostics: false }],
  },
  testMatch: ['<rootDir>/__tests__/**/*.test.ts'],
  // The end-to-end tests run a bundle of the current src/, built once here (test-bed/build-under-test.mjs).
  globalSetup: '<rootDir>/test-bed/build-under-test.mjs',
  globalTeardown: '<rootDir>/test-bed/remove-build-under-test.mjs',
  testTimeout: 60_000,
  // The end-to-end files each start a fake Google and child processes; two workers fit this machine's two cores.
  maxWorkers: 2,
  // The fault matrix's 18 groups mostly wait (on timeouts and backoff): all of them side by side.
  maxConcurrency: 18,
};
