// Policy what-if: replay recent flows against a proposed policy change before applying it.
export * from './errors.js';
export * from './flows.js';
export * from './cluster.js';
export * from './proposal.js';
export * from './whatif.js';
export * from './format.js';
