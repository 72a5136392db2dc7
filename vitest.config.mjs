import { defineConfig } from 'vitest/config'

// Tests load the compiled package (dist/) and the native addon; separate processes keep one
// test file's libcoap state away from another's.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
})
