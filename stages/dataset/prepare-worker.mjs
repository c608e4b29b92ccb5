// Entry of a dataset worker thread: registers tsx (the worker runs the TypeScript sources, from the repository and
// from the CLI bundle alike) and starts the worker's message loop.
import { register } from 'tsx/esm/api';

register();
await import('./prepare-worker.ts');
