// ESLint flat config: typescript-eslint's type-aware recommended rules over everything we write; dist/ is generated.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/** Node's HTTP modules and the toolkit's client: the network, which only src/http/ may reach. */
const NETWORK_MODULES = ['node:http', 'node:https', 'http', 'https', 'node:net', 'net', 'node:tls', 'tls', '@actions/http-client'];

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        projectService: { allowDefaultProject: ['*.mjs', 'scripts/*.mjs', 'bench/*.cjs'] },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' },
      ],
      // Secrets must never reach the console; the action logs through @actions/core only.
      'no-console': 'error',
    },
  },
  // The layers (docs/architecture.md), kept by rules rather than by review.
  {
    // Only the HTTP layer talks to the network.
    files: ['src/**/*.ts'],
    ignores: ['src/http/**'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: [
            ...NETWORK_MODULES.map((name) => ({
              name,
              message: 'Only src/http/ talks to the network: use Http (client.ts) or loopback.ts.',
            })),
            {
              name: '@actions/core',
              importNames: ['setOutput', 'exportVariable', 'summary', 'saveState', 'addPath', 'setSecret'],
              message: 'Only src/publish.ts writes outputs, variables and the summary; only main.ts chooses the masker.',
            },
          ],
          patterns: [{ group: ['@actions/http-client/*'], message: 'Only src/http/ talks to the network.' }],
        },
      ],
    },
  },
  {
    files: ['src/publish.ts', 'src/main.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: NETWORK_MODULES.map((name) => ({ name, message: 'Only src/http/ talks to the network.' })),
          patterns: [{ group: ['@actions/http-client/*'], message: 'Only src/http/ talks to the network.' }],
        },
      ],
    },
  },
  {
    // The CLI writes to a terminal, not to a runner: it never loads the toolkit, nor the modules that write runner files.
    files: ['src/cli/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: NETWORK_MODULES.map((name) => ({ name, message: 'Only src/http/ talks to the network.' })),
          patterns: [
            { group: ['@actions/*'], message: 'The CLI never imports the Actions toolkit.' },
            { group: ['**/publish.ts', '**/main.ts'], message: "The CLI never imports the action's front door or its publisher." },
          ],
        },
      ],
    },
  },
  {
    // Google's API clients sit below the pipeline: they know requests and answers, not credentials, configs or front doors.
    files: ['src/google/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: NETWORK_MODULES.map((name) => ({ name, message: 'Only src/http/ talks to the network.' })),
          patterns: [
            {
              group: [
                '**/credentials/**',
                '**/inputs/**',
                '**/tokens/**',
                '**/smoke/**',
                '**/cli/**',
                '**/config.ts',
                '**/pipeline.ts',
                '**/publish.ts',
                '**/main.ts',
                '@actions/core',
              ],
              message: 'src/google/ imports only the cross-cutting modules (http, errors, secrets, jwt, json, email, urls).',
            },
          ],
        },
      ],
    },
  },
  {
    // The data model imports nothing above it.
    files: ['src/config.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: NETWORK_MODULES.map((name) => ({ name, message: 'Only src/http/ talks to the network.' })),
          patterns: [{ group: ['./*/**'], message: 'config.ts is the data model: it imports no layer (types live with their owners).' }],
        },
      ],
    },
  },
  {
    // Tests, the test bed, the demo and the benchmark print by design, and tests assert on loosely typed JSON.
    files: ['__tests__/**', 'test-bed/**', 'bench/**', 'scripts/**'],
    rules: {
      'no-console': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      // Stand-ins for async collaborators (transports, sleeps) are async without awaiting anything.
      '@typescript-eslint/require-await': 'off',
    },
  },
  { files: ['**/*.mjs', '**/*.cjs'], ...tseslint.configs.disableTypeChecked },
  { files: ['**/*.cjs'], rules: { '@typescript-eslint/no-require-imports': 'off' } },
  {
    files: ['**/*.mjs', '**/*.cjs'],
    languageOptions: { globals: { process: 'readonly', URL: 'readonly', console: 'readonly', require: 'readonly' } },
  },
);
