/** @partnerkit/server: start the service from code (the executable is `partnerkit-server`). */
export { startService, type RunningService, type StartOptions } from './service.js';
export { defaultConfig, parseConfig, type Config } from './config.js';
export { DEMO, DEMO_IDS, DEMO_SEED } from './seed/demo.js';
export type { SeedFile } from './seed/format.js';
