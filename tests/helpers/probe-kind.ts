// A stage kind for planner and executor tests: `stages.<name>` entries that declare files, upstream stages, params
// and heaviness in their config, and whose run records when it starts and ends (and fails on request).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PeftError } from '../../src/errors.ts';
import type { StageKind, Toolchain } from '../../src/stage.ts';

export interface ProbeConfig {
  after: string[]; // upstream probe names
  files: string[];
  value: number;
  ms: number; // how long run() takes
  fail: boolean;
  heavy: boolean;
  outs: string[]; // workspace outputs, written by run()
}

export interface ProbeEvent {
  name: string;
  event: 'start' | 'end';
  at: number;
}

export function probeKind(events: ProbeEvent[] = []): StageKind<ProbeConfig> {
  return {
    section: 'stages',
    kind: 'probe',
    implVersion: '1',
    schema: {
      type: 'object',
      additionalProperties: false,
      properties: {
        after: { type: 'array', items: { type: 'string' }, default: [] },
        files: { type: 'array', items: { type: 'string' }, default: [] },
        value: { type: 'integer', default: 0 },
        ms: { type: 'integer', default: 5 },
        fail: { type: 'boolean', default: false },
        heavy: { type: 'boolean', default: false },
        outs: { type: 'array', items: { type: 'string' }, default: [] },
        description: { type: 'string' },
      },
    },
    references: (_n, c) => c.after.map((a, i) => ({ pointer: `/after/${i}`, target: `stages.${a}` })),
    deps: (_n, c) => ({ upstream: c.after.map((a) => `stages.${a}`), files: c.files }),
    isHeavy: (c) => c.heavy,
    workspaceOutputs: (_n, c) => c.outs,
    async run(ctx) {
      events.push({ name: ctx.name, event: 'start', at: performance.now() });
      await new Promise((r) => setTimeout(r, ctx.config.ms));
      events.push({ name: ctx.name, event: 'end', at: performance.now() });
      if (ctx.config.fail) throw new PeftError('E_STAGE_FAILED', `${ctx.name}: failed on request`);
      writeFileSync(join(ctx.outDir, 'value.txt'), String(ctx.config.value));
      for (const o of ctx.config.outs) writeFileSync(join(ctx.projectDir, o), `${ctx.name} ${ctx.config.value}\n`);
      return { metrics: { value: ctx.config.value } };
    },
  };
}

export function probeToolchain(events: ProbeEvent[] = [], engineVersion = 'test-1'): Toolchain {
  return { kinds: [probeKind(events)], engineVersion };
}
