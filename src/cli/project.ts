// Locating the project and its store from the -f option, for commands that work on the store.
import { dirname, resolve } from 'node:path';
import { StoreLayout } from '../store/layout.ts';

export function layoutFor(file: string): StoreLayout {
  return new StoreLayout(dirname(resolve(file)));
}
