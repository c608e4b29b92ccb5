// Where things live in the artifact store (artifacts/ under the project directory).
import { join } from 'node:path';

export class StoreLayout {
  readonly root: string;
  constructor(readonly projectDir: string) {
    this.root = join(projectDir, 'artifacts');
  }
  get objects(): string {
    return join(this.root, 'objects');
  }
  object(key: string): string {
    return join(this.root, 'objects', key);
  }
  manifest(key: string): string {
    return join(this.object(key), 'manifest.json');
  }
  get refs(): string {
    return join(this.root, 'refs');
  }
  ref(stage: string): string {
    return join(this.root, 'refs', `${stage}.json`);
  }
  get tmp(): string {
    return join(this.root, 'tmp');
  }
  resume(stage: string, key: string): string {
    return join(this.root, 'resume', stage, key);
  }
  resumeRoot(stage: string): string {
    return join(this.root, 'resume', stage);
  }
  get lock(): string {
    return join(this.root, 'build.lock');
  }
  get hashCache(): string {
    return join(this.root, 'cache', 'file-hashes.bin');
  }
}
