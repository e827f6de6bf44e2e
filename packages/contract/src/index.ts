export * from './resources.js';
export * from './wire.js';
