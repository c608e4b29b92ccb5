// `peftmake serve`: the project's store over HTTP (OpenAI-compatible /v1 routes, the fine-tuning routes, /health,
// /metrics) until Ctrl-C; see docs/serve.md.
import { dirname, resolve } from 'node:path';
import type { CommandModule } from 'yargs';
import { PeftError } from '../../errors.ts';
import { checkCompute, checkQuant } from '../engine-args.ts';
import { TOOLCHAIN } from '../toolchain.ts';
import { checkProject } from '../../serve/registry.ts';
import { startServer } from '../../serve/server.ts';
import { fileOption } from '../options.ts';

interface Args {
  file: string;
  host: string;
  port: number;
  apiKey?: string;
  threads?: number;
  maxBatch: number;
  maxPrefillTokens: number;
  maxQueue: number;
  kvBudgetMb: number;
  maxBodyMb: number;
  quant?: string;
  compute: string;
  finetuneDataset?: string;
  finetuneComposition?: string;
}

function positiveInt(v: number, flag: string, max: number): number {
  if (!Number.isInteger(v) || v < 1 || v > max) throw new PeftError('E_USAGE', `${flag} must be an integer in [1, ${max}], got ${v}`);
  return v;
}

export const serveCommand: CommandModule<object, Args> = {
  command: 'serve',
  describe: 'serve compositions, adapters and base models over an OpenAI-compatible HTTP API',
  builder: (y) =>
    y
      .option('file', fileOption)
      .option('host', { type: 'string', default: '127.0.0.1', describe: 'address to listen on' })
      .option('port', { type: 'number', default: 8000, describe: 'port (0: any free port)' })
      .option('api-key', { type: 'string', describe: 'require "Authorization: Bearer KEY" (default: $PEFTMAKE_API_KEY; none when unset)' })
      .option('threads', { type: 'number', describe: 'engine threads (default: all cores)' })
      .option('max-batch', { type: 'number', default: 16, describe: 'sequences decoded together per base model' })
      .option('max-prefill-tokens', {
        type: 'number',
        default: 512,
        describe: 'prompt tokens joining the running batch per step (a longer prompt joins alone); lower: shorter stalls of running streams',
      })
      .option('max-queue', { type: 'number', default: 256, describe: 'requests waiting for a batch row; more get 429' })
      .option('kv-budget-mb', { type: 'number', default: 1024, describe: 'KV cache memory over all running sequences, per base model' })
      .option('max-body-mb', { type: 'number', default: 4, describe: 'request body limit; larger bodies get 413' })
      .option('quant', { type: 'string', choices: ['nf4', 'none'], describe: 'frozen base weights in memory (default none)' })
      .option('compute', {
        type: 'string',
        choices: ['fp32', 'bf16', 'int8', 'auto'],
        default: 'fp32',
        describe:
          'compute mode of the base (bf16: bf16 products, on AVX512-BF16 CPUs also in batched decoding; int8: NF4 decoding in int8, needs --quant nf4; auto: bf16 where native)',
      })
      .option('finetune-dataset', { type: 'string', describe: 'dataset POST /fine-tuning/setup writes into (default: the only one)' })
      .option('finetune-composition', { type: 'string', describe: 'composition POST /fine-tuning/query answers with (default: the only one)' }) as never,
  handler: async (a) => {
    const projectDir = dirname(resolve(a.file));
    checkProject(projectDir);
    if (!Number.isInteger(a.port) || a.port < 0 || a.port > 65535) throw new PeftError('E_USAGE', `--port must be an integer in [0, 65535], got ${a.port}`);
    const s = await startServer({
      projectDir,
      toolchain: TOOLCHAIN,
      host: a.host,
      port: a.port,
      apiKey: a.apiKey ?? (process.env.PEFTMAKE_API_KEY || undefined),
      threads: a.threads === undefined ? undefined : positiveInt(a.threads, '--threads', 1024),
      maxBatch: positiveInt(a.maxBatch, '--max-batch', 1024),
      maxPrefillTokens: positiveInt(a.maxPrefillTokens, '--max-prefill-tokens', 1 << 20),
      maxQueue: positiveInt(a.maxQueue, '--max-queue', 1 << 20),
      kvBudgetBytes: positiveInt(a.kvBudgetMb, '--kv-budget-mb', 1 << 20) * 1024 * 1024,
      bodyLimit: positiveInt(a.maxBodyMb, '--max-body-mb', 1024) * 1024 * 1024,
      quant: checkQuant(a.quant),
      compute: checkCompute(a.compute, checkQuant(a.quant)),
      fineTuning: { dataset: a.finetuneDataset, composition: a.finetuneComposition, pipelineFile: resolve(a.file) },
    });
    process.stderr.write(`peftmake serve: ${s.url} (project ${projectDir}; GET ${s.url}/v1/models lists ${s.registry.list().length} model(s))\n`);
    await new Promise<void>((done) => {
      const stop = () => void s.close().then(done);
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
  },
};

export default serveCommand;
