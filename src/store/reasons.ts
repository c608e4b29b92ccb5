// Why a stage was rebuilt or restored, as the store records it in each version (refs) and the CLI prints it.
// Planning computes them (src/plan/reasons.ts).

export type Reason =
  | { type: 'no-record' }
  | { type: 'dep-modified'; path: string }
  | { type: 'dep-added'; path: string }
  | { type: 'dep-removed'; path: string }
  | { type: 'param-changed'; key: string; old: unknown; new: unknown }
  | { type: 'upstream-changed'; stage: string }
  | { type: 'impl-changed'; old: string; new: string }
  | { type: 'engine-changed'; old: string; new: string }
  | { type: 'output-missing'; path?: string }
  | { type: 'artifact-corrupt'; problem: string };

export function formatReason(r: Reason): string {
  switch (r.type) {
    case 'no-record':
      return 'no-record';
    case 'dep-modified':
    case 'dep-added':
    case 'dep-removed':
      return `${r.type} ${r.path}`;
    case 'param-changed':
      return `param-changed ${r.key}: ${JSON.stringify(r.old)} -> ${JSON.stringify(r.new)}`;
    case 'upstream-changed':
      return `upstream-changed ${r.stage}`;
    case 'impl-changed':
    case 'engine-changed':
      return `${r.type} ${r.old} -> ${r.new}`;
    case 'output-missing':
      return r.path ? `output-missing ${r.path}` : 'output-missing';
    case 'artifact-corrupt':
      return `artifact-corrupt ${r.problem} (rebuilding it)`;
  }
}
