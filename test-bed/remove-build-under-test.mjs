// Jest's global tear-down: removes the bundle the global set-up built.
export { removeBuild as default } from './build-under-test.mjs';
