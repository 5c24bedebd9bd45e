import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    environment: 'node',
    testTimeout: 60_000,
    hookTimeout: 600_000,
    // The OpenVPN end-to-end and kube-apiserver suites own machine-wide resources (network namespaces,
    // loopback ports, 2 cores): run files one at a time so timings stay meaningful.
    fileParallelism: false,
    pool: 'forks',
  },
});
