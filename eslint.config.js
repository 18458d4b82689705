// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['**/dist/**', 'node_modules/**', 'packages/servicenow/test/clients/node_modules/**', 'coverage/**', '.bench-build/**', '.prof/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', setImmediate: 'readonly', URL: 'readonly' },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': 'error',
      eqeqeq: ['error', 'always', { null: 'ignore' }],
    },
  },
  {
    // The dashboard's script runs in the browser.
    files: ['packages/servicenow/assets/**/*.js'],
    languageOptions: {
      sourceType: 'script',
      globals: { document: 'readonly', window: 'readonly', EventSource: 'readonly', fetch: 'readonly', encodeURIComponent: 'readonly', Date: 'readonly', Intl: 'readonly' },
    },
  },
  {
    // Drivers of other projects' CommonJS clients (packages/servicenow/test/servicenow-clients.test.ts runs them).
    files: ['packages/servicenow/test/clients/*.cjs'],
    languageOptions: { sourceType: 'commonjs', globals: { require: 'readonly' } },
    rules: { '@typescript-eslint/no-require-imports': 'off', 'no-console': 'off' },
  },
  {
    // STYLE.md: a file says one thing; past 300 lines it says several.
    files: ['packages/*/src/**/*.ts'],
    ignores: ['**/*.test.ts'],
    rules: { 'max-lines': ['error', { max: 300 }] },
  },
  // Layering (docs/architecture.md): policy depends on nothing of ours (but the clock's type),
  // net on policy, the client package on no other, the proxy and the mirror not on each other,
  // and nothing on the CLI. A sibling package is imported by its name (holdfast/internal/…).
  {
    files: ['packages/client/src/policy/**/*.ts'],
    ignores: ['**/*.test.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [{ group: ['../*', '!../clock.js'], message: 'policy/ imports nothing of ours: pure decision logic (docs/architecture.md)' }] }] },
  },
  {
    files: ['packages/client/src/http/**/*.ts'],
    ignores: ['**/*.test.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [{ group: ['../*'], message: 'http/ imports nothing of ours: header facts the client and the proxy share' }] }] },
  },
  {
    files: ['packages/proxy/src/net/**/*.ts'],
    ignores: ['**/*.test.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [{ group: ['../*', '@holdfast/*', 'holdfast/internal/*', '!holdfast/internal/policy', '!holdfast/internal/clock.js', '!holdfast/internal/errors.js'], message: 'net/ imports only policy/ (and the clock and the error catalog)' }] }] },
  },
  {
    files: ['packages/client/src/**/*.ts'],
    ignores: ['**/*.test.ts', 'packages/client/src/policy/**', 'packages/client/src/http/**'],
    rules: { 'no-restricted-imports': ['error', { patterns: [{ group: ['holdfast', 'holdfast/*', '@holdfast/*'], message: 'the client package is the core: it imports no other package of ours (and itself by relative paths)' }] }] },
  },
  {
    files: ['packages/proxy/src/**/*.ts'],
    ignores: ['**/*.test.ts', 'packages/proxy/src/net/**'],
    rules: { 'no-restricted-imports': ['error', { patterns: [{ group: ['@holdfast/*'], message: 'the proxy builds on the client package only (holdfast/internal/…)' }] }] },
  },
  {
    files: ['packages/servicenow/src/**/*.ts'],
    ignores: ['**/*.test.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [{ group: ['@holdfast/*'], message: 'the mirror builds on the client package only (holdfast/internal/…)' }] }] },
  },
  {
    // One clock (docs/architecture.md): a timer in these rooms goes through the injected clock,
    // so that a test moves through it with the fake one instead of waiting.
    files: ['packages/proxy/src/**/*.ts', 'packages/servicenow/src/**/*.ts', 'packages/client/src/simulate/**/*.ts'],
    ignores: ['**/*.test.ts'],
    rules: {
      'no-restricted-globals': ['error',
        { name: 'setTimeout', message: 'use the injected clock (clock.schedule or clock.timer)' },
        { name: 'setInterval', message: 'use the injected clock (clock.schedule or clock.timer)' }],
    },
  },
  {
    // The CLI, benchmarks and scripts talk to a terminal; library code never does.
    files: ['packages/cli/src/**', 'bench/**', 'scripts/**'],
    rules: { 'no-console': 'off' },
  },
);
