// The dataset worker thread's side (see parallel.ts): cleans chunks of items with the main thread's own function,
// keeps each kept item's cleaned text under its index, and tokenizes the ones the main thread asks for; on the
// streamed path, prepares whole chunks of a text source (stream-docs.ts) and formats JSONL (stream-format.ts).
import { parentPort } from 'node:worker_threads';
import { IdBuffer } from '../../src/hf/id-buffer.ts';
import { loadModelTokenizer, type ModelTokenizer } from '../../src/hf/tokenizer.ts';
import { cleanItem, type PiiTally } from './clean-item.ts';
import { contentKey } from './dedup.ts';
import { textsOf, type Item } from './fields.ts';
import type { CleanReply, CleanRequest, TokenizeReply, TokenizeRequest, WorkerRequest } from './parallel.ts';
import { tokenizeDocumentTo } from './tokenize.ts';
import { chunkTransfer, processChunk } from './stream-docs.ts';
import { formatSequences } from './stream-format.ts';

const texts = new Map<number, string>(); // cleaned text of each kept item, by its index in the source
const tokenizers = new Map<string, ModelTokenizer>();

function clean(req: CleanRequest): CleanReply {
  const pii: PiiTally = { byType: {}, records: 0 };
  const n = req.items.length;
  const status = new Int8Array(n); // 0 kept, 1 empty, 2 pii
  const lens = new Int32Array(n);
  const keys: string[] = new Array(n).fill('');
  for (let i = 0; i < n; i++) {
    const r = cleanItem(req.items[i] as Item, req.clean, req.types, pii);
    if (r === 'empty') status[i] = 1;
    else if (r === 'pii') status[i] = 2;
    else {
      const t = textsOf(r.example);
      lens[i] = t.reduce((a, x) => a + x.length, 0);
      keys[i] = contentKey(t);
      texts.set(req.base + i, t[0]);
    }
  }
  return { op: 'clean', status, lens, keys, pii };
}

function tokenizerOf(dir: string): ModelTokenizer {
  let tok = tokenizers.get(dir);
  if (!tok) tokenizers.set(dir, (tok = loadModelTokenizer(dir)));
  return tok;
}

function tokenize(req: TokenizeRequest): TokenizeReply {
  const tok = tokenizerOf(req.tokenizerDir);
  let chars = 0;
  for (const r of req.refs) chars += (texts.get(r)?.length ?? 0) + 4;
  const out = new IdBuffer(Math.max(1 << 16, chars));
  const ends = new Int32Array(req.refs.length);
  req.refs.forEach((r, k) => {
    const text = texts.get(r);
    if (text === undefined) throw new Error(`dataset worker: no cleaned text for item ${r}`);
    tokenizeDocumentTo(text, tok, out);
    ends[k] = out.length;
  });
  return { op: 'tokenize', ids: out.data.slice(0, out.length), ends };
}

parentPort!.on('message', (req: WorkerRequest) => {
  try {
    if (req.op === 'reset') {
      texts.clear();
      parentPort!.postMessage({ op: 'reset' });
    } else if (req.op === 'clean') parentPort!.postMessage(clean(req));
    else if (req.op === 'chunk') {
      const reply = processChunk(req, tokenizerOf(req.tokenizerDir));
      parentPort!.postMessage(reply, chunkTransfer(reply));
    } else if (req.op === 'format') {
      const bytes = formatSequences(req.ids, req.seqLen, tokenizerOf(req.tokenizerDir), req.spare);
      parentPort!.postMessage({ op: 'format', bytes }, [bytes.buffer as ArrayBuffer]);
    } else {
      const reply = tokenize(req);
      parentPort!.postMessage(reply, [reply.ids.buffer as ArrayBuffer, reply.ends.buffer as ArrayBuffer]);
    }
  } catch (e) {
    const err = e as { code?: unknown; details?: unknown; message?: string; stack?: string };
    if (typeof err.code === 'string' && err.code.startsWith('E_'))
      parentPort!.postMessage({ op: 'error', code: err.code, message: err.message, details: JSON.parse(JSON.stringify(err.details ?? {})) });
    else parentPort!.postMessage({ op: 'error', message: err.stack ?? String(e) });
  }
});
