/** Jest: ts-jest on jsdom. The tested modules take JupyterLab's packages as
 * types only (Lumino's, which they load, ship CommonJS), so no JupyterLab ESM
 * packages need transforming. */
module.exports = {
  testEnvironment: 'jsdom',
  roots: ['<rootDir>/src'],
  testRegex: 'src/__tests__/.*\\.spec\\.ts$',
  transform: {
    '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.test.json' }]
  },
  moduleFileExtensions: ['ts', 'js', 'json']
};
