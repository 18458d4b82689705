// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'test/clients/node_modules/**', 'coverage/**', '.bench-build/**', '.prof/**'] },
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
    files: ['assets/**/*.js'],
    languageOptions: {
      sourceType: 'script',
      globals: { document: 'readonly', window: 'readonly', EventSource: 'readonly', fetch: 'readonly', encodeURIComponent: 'readonly', Date: 'readonly', Intl: 'readonly' },
    },
  },
  {
    // Drivers of other projects' CommonJS clients (test/servicenow/servicenow-clients.test.ts runs them).
    files: ['test/clients/*.cjs'],
    languageOptions: { sourceType: 'commonjs', globals: { require: 'readonly' } },
    rules: { '@typescript-eslint/no-require-imports': 'off', 'no-console': 'off' },
  },
  {
    // STYLE.md: a file says one thing; past 300 lines it says several.
    files: ['src/**/*.ts'],
    ignores: ['**/*.test.ts'],
    rules: { 'max-lines': ['error', { max: 300 }] },
  },
  // Layering (docs/architecture.md): policy depends on nothing of ours (but the clock's type),
  // net on policy, and nothing on the CLI.
  {
    files: ['src/policy/**/*.ts'],
    ignores: ['**/*.test.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [{ group: ['../*', '!../clock.js'], message: 'policy/ imports nothing of ours: pure decision logic (docs/architecture.md)' }] }] },
  },
  {
    files: ['src/http/**/*.ts'],
    ignores: ['**/*.test.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [{ group: ['../*'], message: 'http/ imports nothing of ours: header facts the client and the proxy share' }] }] },
  },
  {
    files: ['src/net/**/*.ts'],
    ignores: ['**/*.test.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [{ group: ['../*', '!../policy', '!../clock.js', '!../errors.js'], message: 'net/ imports only policy/ (and the clock and the error catalog)' }] }] },
  },
  {
    files: ['src/**/*.ts'],
    ignores: ['src/cli/**', 'src/policy/**', 'src/net/**', 'src/http/**'],
    rules: { 'no-restricted-imports': ['error', { patterns: [{ group: ['**/cli/*'], message: 'nothing imports the CLI: it is the outermost layer' }] }] },
  },
  {
    // One clock (docs/architecture.md): a timer in these rooms goes through the injected clock,
    // so that a test moves through it with the fake one instead of waiting.
    files: ['src/net/**/*.ts', 'src/proxy/**/*.ts', 'src/servicenow/**/*.ts', 'src/simulate/**/*.ts'],
    ignores: ['**/*.test.ts'],
    rules: {
      'no-restricted-globals': ['error',
        { name: 'setTimeout', message: 'use the injected clock (clock.schedule or clock.timer)' },
        { name: 'setInterval', message: 'use the injected clock (clock.schedule or clock.timer)' }],
    },
  },
  {
    // The CLI, benchmarks and scripts talk to a terminal; library code never does.
    files: ['src/cli/**', 'bench/**', 'scripts/**'],
    rules: { 'no-console': 'off' },
  },
);
