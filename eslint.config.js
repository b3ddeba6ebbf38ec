// Strict lint, plus the layering rule of docs/architecture.md: only src/k8s/ may talk to the API
// server (import @kubernetes/client-node or undici); the pure layers import nothing that does I/O.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const apiClients = {
  patterns: [
    { group: ['@kubernetes/client-node', 'undici'], message: 'Only src/k8s/ talks to the API server.' },
  ],
};
const pureOnly = {
  patterns: [
    ...apiClients.patterns,
    { group: ['node:fs', 'node:child_process', 'node:http', 'node:https', 'pino', 'ioredis', '**/controller/*', '**/k8s/*'], message: 'render/, compliance/, api/ and util/ are pure: no I/O, no controller or k8s imports.', allowTypeImports: true },
  ],
};

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', '.cache/', 'coverage/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/explicit-function-return-type': ['error', { allowExpressions: true, allowTypedFunctionExpressions: true }],
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      eqeqeq: ['error', 'always'],
    },
  },
  // Size limits that keep modules and functions readable: an options object past 4 parameters.
  {
    files: ['src/**/*.ts', 'scripts/**/*.ts', 'bench/**/*.ts'],
    ignores: ['**/*.test.ts'],
    rules: {
      'max-params': ['error', 4],
      complexity: ['error', 20],
      'max-lines': ['error', { max: 400, skipBlankLines: true, skipComments: true }],
      'max-lines-per-function': ['error', { max: 80, skipBlankLines: true, skipComments: true }],
    },
  },
  { files: ['src/**/*.ts'], ignores: ['src/k8s/**'], rules: { 'no-restricted-imports': ['error', apiClients] } },
  { files: ['src/render/**/*.ts', 'src/compliance/**/*.ts', 'src/api/**/*.ts', 'src/util/**/*.ts'], rules: { 'no-restricted-imports': ['error', pureOnly] } },
  // The webhook's decisions are pure too; only its server (and the cache adapter) touch I/O.
  { files: ['src/webhook/**/*.ts'], ignores: ['src/webhook/server.ts', 'src/webhook/*.test.ts', 'src/webhook/context.ts'], rules: { 'no-restricted-imports': ['error', pureOnly] } },
  { files: ['**/*.test.ts', 'test/**/*.ts'], rules: { '@typescript-eslint/explicit-function-return-type': 'off' } },
  { files: ['**/*.js', '**/*.mjs'], languageOptions: { globals: { process: 'readonly', globalThis: 'readonly' } } },
);
