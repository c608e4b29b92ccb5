// Text cleaning: Unicode NFC, markdown / HTML stripping, whitespace normalisation (each a small pure function).
import { endianness } from 'node:os';
import { textAddon } from '../../src/util/text-addon.ts';

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

// Scratch buffers: the input's UTF-16 code units (copied in by one native write: reading a typed array is cheaper
// than charCodeAt on the sliced strings a text is read as), the output's, and its Latin-1 bytes.
let input = Buffer.allocUnsafeSlow(1 << 17);
let in16 = new Uint16Array(input.buffer, input.byteOffset, input.length >> 1);
let output = Buffer.allocUnsafeSlow(1 << 17);
let out16 = new Uint16Array(output.buffer, output.byteOffset, output.length >> 1);
let latin1 = Buffer.allocUnsafeSlow(1 << 16); // the output chars' low bytes

const LITTLE_ENDIAN = endianness() === 'LE';

function ensureScratch(n: number): void {
  if (in16.length >= n) return;
  input = Buffer.allocUnsafeSlow(n * 4);
  in16 = new Uint16Array(input.buffer, input.byteOffset, input.length >> 1);
  output = Buffer.allocUnsafeSlow(n * 4);
  out16 = new Uint16Array(output.buffer, output.byteOffset, output.length >> 1);
  latin1 = Buffer.allocUnsafeSlow(n * 2);
}

/** The characters String.prototype.trim removes that can be left in normalizeWhitespace's output (the others became " " or "\n" or went). */
function trimmedAfterNormalizing(c: number): boolean {
  return c === 32 || c === 10 || c === 0x1680 || c === 0x2028 || c === 0x2029;
}

/** The string of the output chars [from, to), lone surrogates kept: the UTF-16LE bytes as they are where the machine is little-endian. */
function charsToString(from: number, to: number, isLatin1: boolean): string {
  // Every char below U+0100: a one-byte string (its bytes were written alongside), which the regexes, hashing and
  // tokenizing after this scan faster.
  if (isLatin1) return latin1.toString('latin1', from, to);
  if (LITTLE_ENDIAN) return output.toString('utf16le', from * 2, to * 2);
  let text = '';
  for (let at = from; at < to; at += 8192) text += String.fromCharCode.apply(null, out16.subarray(at, Math.min(to, at + 8192)) as unknown as number[]);
  return text;
}

/** s's UTF-16 code units into in16 (one native copy where the machine is little-endian). */
function readChars(s: string): Uint16Array {
  const n = s.length;
  ensureScratch(n);
  if (LITTLE_ENDIAN) input.write(s, 0, 'utf16le');
  else for (let i = 0; i < n; i++) in16[i] = s.charCodeAt(i);
  return in16;
}

/**
 * CRLF → LF, zero-width spaces / BOMs removed, tabs / runs of spaces → one space, no trailing spaces, at most one
 * blank line, trimmed ends: normalizeWhitespaceJs, in C++ where the peft_text addon is built.
 */
export function normalizeWhitespace(s: string): string {
  const addon = textAddon(); // looked up per call (cached there): no load at import, PEFTMAKE_NO_TEXT_ADDON honoured
  return addon ? addon.normalizeWhitespace(s) : normalizeWhitespaceJs(s);
}

/**
 * normalizeWhitespace in one pass over the text, equal to the regex chain
 * \r\n?→\n; [\u200b\u2060\ufeff]→''; [spaces]{2,}|[spaces other than " "]→' '; ' ?\n ?'→\n; \n{3,}→\n\n; trim():
 * a space run next to a newline disappears, newline runs (with the spaces between them) become at most two.
 */
export function normalizeWhitespaceJs(s: string): string {
  const n = s.length;
  const inp = readChars(s);
  const out = out16;
  const low = latin1;
  let len = 0;
  let space = false; // a pending run of horizontal spaces
  let newlines = 0; // pending newlines
  let replaced = false; // a character replaced in place (the length alone does not show it)
  let wide = 0; // the OR of the characters written: below 0x100 when all are Latin-1
  for (let i = 0; i < n; ) {
    let c = inp[i];
    if (c > 32 && c < 0xa0) {
      // A run of printable ASCII (or C1) chars: the pending break or space first, then the run as it is.
      if (newlines > 0) {
        out[len] = low[len] = 10;
        len++;
        if (newlines > 1) {
          out[len] = low[len] = 10;
          len++;
        }
        newlines = 0;
      } else if (space) {
        out[len] = low[len] = 32;
        len++;
      }
      space = false;
      do {
        out[len] = low[len] = c;
        len++;
        if (++i === n) break;
        c = inp[i];
      } while (c > 32 && c < 0xa0);
      continue;
    }
    i++;
    if (c === 13) {
      c = 10;
      replaced = true;
      if (i < n && inp[i] === 10) i++;
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
    if (newlines > 0) {
      out[len] = low[len] = 10;
      len++;
      if (newlines > 1) {
        out[len] = low[len] = 10;
        len++;
      }
      newlines = 0;
    } else if (space) {
      out[len] = low[len] = 32;
      len++;
    }
    space = false;
    wide |= c;
    out[len] = low[len] = c;
    len++;
  }
  // Pending newlines or a space at the end are trimmed below.
  if (len === n && !replaced) return s.trim();
  // trim() done on the chars: the string is made once, flat (a trimmed string would be a slice of a longer one).
  let from = 0;
  let to = len;
  while (from < to && trimmedAfterNormalizing(out[from])) from++;
  while (to > from && trimmedAfterNormalizing(out[to - 1])) to--;
  return charsToString(from, to, wide < 0x100);
}

export interface TextCleanOptions {
  nfc: boolean;
  whitespace: boolean;
  strip: 'none' | 'markdown' | 'html';
}

export function cleanText(s: string, o: TextCleanOptions): string {
  const t = beforeWhitespace(s, o);
  return o.whitespace ? normalizeWhitespace(t) : t;
}

function beforeWhitespace(s: string, o: TextCleanOptions): string {
  const t = o.nfc ? s.normalize('NFC') : s;
  if (o.strip === 'markdown') return stripMarkdown(t);
  if (o.strip === 'html') return stripHtml(t);
  return t;
}

/** cleanText of each text: their whitespace normalised in one call of the peft_text addon where it is built. */
export function cleanTexts(texts: readonly string[], o: TextCleanOptions): string[] {
  const addon = textAddon();
  if (!o.whitespace || !addon || texts.length === 0) return texts.map((t) => cleanText(t, o));
  const pre = texts.map((t) => beforeWhitespace(t, o));
  const ends = new Int32Array(pre.length);
  for (let k = 0, chars = 0; k < pre.length; k++) ends[k] = chars += pre[k].length;
  return addon.normalizeWhitespaceEach(pre.join(''), ends);
}
