// The model's tokenizer (tokenizer.json + tokenizer_config.json through @huggingface/tokenizers), with BOS added
// as tokenizer_config's add_bos_token says, and decoding that skips special tokens.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { PeftError } from '../errors.ts';

export interface TextTokenizer {
  encode(text: string, opts?: { bos?: boolean }): number[];
  decode(ids: number[]): string;
  bosId?: number;
  eosId?: number;
}

function readJson(file: string): Record<string, unknown> {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new PeftError('E_MODEL', `${file}: cannot read JSON (${(err as Error).message})`, { file });
  }
}

export function loadTokenizer(dir: string): TextTokenizer {
  const tj = join(dir, 'tokenizer.json');
  if (!existsSync(tj))
    throw new PeftError('E_MODEL', `${dir}: no tokenizer.json`, { file: tj, hint: 'pass token ids instead (--prompt-ids / --ids)' });
  const cfgFile = join(dir, 'tokenizer_config.json');
  const cfg = existsSync(cfgFile) ? readJson(cfgFile) : {};
  const tok = new Tokenizer(readJson(tj), cfg);
  const tokenId = (v: unknown): number | undefined => {
    const s = typeof v === 'string' ? v : v && typeof v === 'object' ? (v as { content?: string }).content : undefined;
    return s === undefined ? undefined : tok.token_to_id(s);
  };
  const bosId = tokenId(cfg.bos_token);
  const eosId = tokenId(cfg.eos_token);
  const addBos = cfg.add_bos_token === true;
  return {
    bosId,
    eosId,
    encode(text, opts) {
      let ids = tok.encode(text, { add_special_tokens: false }).ids;
      const bos = opts?.bos ?? addBos;
      if (bos && bosId !== undefined) ids = [bosId, ...ids];
      return ids;
    },
    decode(ids) {
      return tok.decode(ids, { skip_special_tokens: true });
    },
  };
}
