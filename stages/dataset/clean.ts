// Text cleaning: Unicode NFC, markdown / HTML stripping, whitespace normalisation (each a small pure function).
import { endianness } from 'node:os';

export function stripHtml(s: string): string {
  if (!s.includes('<') && !s.includes('&')) return s;
  return decodeEntities(
    s
      .replace(/<!--[\s\S]*?-->/g, '')
      .replace(/<(script|style)\b[^>]*>[\s\S]*?<\/\1\s*>/gi, '')
      .replace(/<\/?(p|div|br|li|ul|ol|h[1-6]|tr|table|section|article|blockquote|pre)\b[^>]*>/gi, '\n')
      .replace(/<\/?[A-Za-z][^<>]*>/g, ''),
  );
}

const NAMED_ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: ' ', '#39': "'" };

export function decodeEntities(s: string): string {
  return s.replace(/&(#x[0-9a-fA-F]+|#\d+|[a-zA-Z]+);/g, (m, name: string) => {
    if (name[0] === '#') {
      const cp = name[1] === 'x' || name[1] === 'X' ? parseInt(name.slice(2), 16) : parseInt(name.slice(1), 10);
      return cp > 0 && cp <= 0x10ffff ? String.fromCodePoint(cp) : m;
    }
    return NAMED_ENTITIES[name] ?? m;
  });
}

/** Removes markdown syntax and keeps its text: headings, emphasis, code marks, links, images, quotes, list bullets, tables rules. */
export function stripMarkdown(s: string): string {
  return stripHtml(
    s
      .replace(/^```[^\n]*$/gm, '')
      .replace(/^~~~[^\n]*$/gm, '')
      .replace(/!\[([^\]]*)\]\([^)]*\)/g, '$1')
      .replace(/\[([^\]]+)\]\([^)]*\)/g, '$1')
      .replace(/\[([^\]]+)\]\[[^\]]*\]/g, '$1')
      .replace(/^[ \t]{0,3}\[[^\]]+\]:\s+\S+.*$/gm, '')
      .replace(/^[ \t]{0,3}#{1,6}\s+/gm, '')
      .replace(/^[ \t]{0,3}>\s?/gm, '')
      .replace(/^([ \t]*)(?:[-*+]|\d+[.)])\s+/gm, '$1')
      .replace(/^\s*(?:[-*_]\s*){3,}$/gm, '')
      .replace(/^\s*\|?(?:\s*:?-{3,}:?\s*\|)+\s*:?-*:?\s*$/gm, '')
      .replace(/(\*\*|__)(?=\S)([\s\S]*?\S)\1/g, '$2')
      .replace(/(^|[^\w*])\*(?=\S)([^*\n]*?\S)\*(?!\w)/g, '$1$2')
      .replace(/(^|[^\w_])_(?=\S)([^_\n]*?\S)_(?!\w)/g, '$1$2')
      .replace(/~~(?=\S)([\s\S]*?\S)~~/g, '$1')
      .replace(/`([^`\n]+)`/g, '$1'),
  );
}

/** [ \t\f\v\u00a0\u2000-\u200a\u202f\u205f\u3000]: the horizontal spaces that collapse to one " ". */
function isHorizontalSpace(c: number): boolean {
  return c === 32 || c === 9 || c === 11 || c === 12 || (c >= 0x2000 ? c <= 0x200a || c === 0x202f || c === 0x205f || c === 0x3000 : c === 0xa0);
}

let scratch = new Uint16Array(1 << 16);
let scratchLatin1 = new Uint8Array(1 << 16);

const LITTLE_ENDIAN = endianness() === 'LE';

/** The string of out[0 .. len), lone surrogates kept: the UTF-16LE bytes as they are where the machine is little-endian. */
function charsToString(out: Uint16Array, len: number, latin1: boolean): string {
  if (latin1) {
    // Every char below U+0100: a one-byte string, which the regexes, hashing and tokenizing after this scan faster.
    if (scratchLatin1.length < len) scratchLatin1 = new Uint8Array(len * 2);
    const bytes = scratchLatin1;
    for (let k = 0; k < len; k++) bytes[k] = out[k];
    return Buffer.from(bytes.buffer, bytes.byteOffset, len).toString('latin1');
  }
  if (LITTLE_ENDIAN) return Buffer.from(out.buffer, out.byteOffset, len * 2).toString('utf16le');
  let text = '';
  for (let at = 0; at < len; at += 8192) text += String.fromCharCode.apply(null, out.subarray(at, Math.min(len, at + 8192)) as unknown as number[]);
  return text;
}

/**
 * CRLF → LF, zero-width spaces / BOMs removed, tabs / runs of spaces → one space, no trailing spaces, at most one
 * blank line, trimmed ends. One pass over the text, equal to the regex chain
 * \r\n?→\n; [\u200b\u2060\ufeff]→''; [spaces]{2,}|[spaces other than " "]→' '; ' ?\n ?'→\n; \n{3,}→\n\n; trim():
 * a space run next to a newline disappears, newline runs (with the spaces between them) become at most two.
 */
export function normalizeWhitespace(s: string): string {
  const n = s.length;
  if (scratch.length < n) scratch = new Uint16Array(n * 2);
  const out = scratch;
  let len = 0;
  let space = false; // a pending run of horizontal spaces
  let newlines = 0; // pending newlines
  let replaced = false; // a character replaced in place (the length alone does not show it)
  let wide = 0; // the OR of the characters written: below 0x100 when all are Latin-1
  for (let i = 0; i < n; i++) {
    let c = s.charCodeAt(i);
    // The common case skips these tests: a printable ASCII (or C1) char, none of the spaces, newlines or zero-widths.
    if (c <= 32 || c >= 0xa0) {
      if (c === 13) {
        c = 10;
        replaced = true;
        if (s.charCodeAt(i + 1) === 10) i++;
      }
      if (c === 10) {
        newlines++;
        space = false;
        continue;
      }
      if (c === 0x200b || c === 0x2060 || c === 0xfeff) continue;
      if (isHorizontalSpace(c)) {
        if (newlines === 0) space = true;
        if (c !== 32) replaced = true;
        continue;
      }
    }
    if (newlines > 0) {
      out[len++] = 10;
      if (newlines > 1) out[len++] = 10;
      newlines = 0;
    } else if (space) out[len++] = 32;
    space = false;
    wide |= c;
    out[len++] = c;
  }
  if (newlines > 0) {
    out[len++] = 10;
    if (newlines > 1) out[len++] = 10;
  } else if (space) out[len++] = 32;
  const text = len === n && !replaced ? s : charsToString(out, len, wide < 0x100);
  return text.trim();
}

export interface TextCleanOptions {
  nfc: boolean;
  whitespace: boolean;
  strip: 'none' | 'markdown' | 'html';
}

export function cleanText(s: string, o: TextCleanOptions): string {
  let t = o.nfc ? s.normalize('NFC') : s;
  if (o.strip === 'markdown') t = stripMarkdown(t);
  else if (o.strip === 'html') t = stripHtml(t);
  if (o.whitespace) t = normalizeWhitespace(t);
  return t;
}
