import { join } from 'node:path';
import { PROJECT_ROOT } from './harness';

/** The lab's assets: host-init, lab-exec, relay.js, the stand-ins, the lab's cc-ci repos. */
export const LAB_ASSETS = join(PROJECT_ROOT, 'lab');
/** Where each run's lab lives: `.lab/<run-id>/`. */
export const LAB_ROOT = join(PROJECT_ROOT, '.lab');
