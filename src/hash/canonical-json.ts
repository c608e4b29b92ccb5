// Canonical JSON (sorted keys, no whitespace) and its SHA-256: the basis of every stage key.
import { createHash } from 'node:crypto';

export function canonicalJson(v: unknown): string {
  if (v === null || typeof v !== 'object') {
    if (typeof v === 'number' && !Number.isFinite(v)) return 'null';
    return JSON.stringify(v) ?? 'null';
  }
  // Loops and string appends, not map / filter / join: a stage's key material holds one object per input file.
  if (Array.isArray(v)) {
    let s = '[';
    for (let i = 0; i < v.length; i++) s += (i ? ',' : '') + canonicalJson(v[i]);
    return `${s}]`;
  }
  const o = v as Record<string, unknown>;
  const keys = Object.keys(o).sort();
  let s = '{';
  for (const k of keys) {
    const x = o[k];
    if (x === undefined) continue;
    s += `${s.length > 1 ? ',' : ''}${JSON.stringify(k)}:${canonicalJson(x)}`;
  }
  return `${s}}`;
}

/** Where keyOfMaterial splices the file list into the canonical text (a string no JSON value of a key holds). */
const FILES_MARK = '\u0000peftmake-file-list\u0000';

/**
 * sha256Hex(canonicalJson(m)) for key material whose `inputs` is a list of { path, sha256 } (one per input file:
 * 100,000 in a big pipeline): that list is written by one loop, the same text canonicalJson gives it, not object by
 * object through Object.keys and a sort.
 */
export function keyOfMaterial(m: { inputs: readonly { path: string; sha256: string }[] }): string {
  let list = '[';
  for (let i = 0; i < m.inputs.length; i++) {
    const f = m.inputs[i];
    list += `${i ? ',' : ''}{"path":${JSON.stringify(f.path)},"sha256":${JSON.stringify(f.sha256)}}`;
  }
  const text = canonicalJson({ ...m, inputs: FILES_MARK });
  const at = text.indexOf(JSON.stringify(FILES_MARK));
  return sha256Hex(text.slice(0, at) + list + ']' + text.slice(at + JSON.stringify(FILES_MARK).length));
}

export function sha256Hex(text: string | Buffer): string {
  return createHash('sha256').update(text).digest('hex');
}
