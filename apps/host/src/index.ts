export { type Io, run, VERSION } from './cli.js';
export { type DemoOptions, runDemo } from './demo.js';
