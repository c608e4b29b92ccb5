// Text cleaning: Unicode NFC, markdown / HTML stripping, whitespace normalisation (each a small pure function).

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

/** CRLF → LF, zero-width spaces / BOMs removed, tabs / runs of spaces → one space, no trailing spaces, at most one blank line, trimmed ends. */
export function normalizeWhitespace(s: string): string {
  return s
    .replace(/\r\n?/g, '\n')
    .replace(/[\u200b\u2060\ufeff]/g, '')
    .replace(/[ \t\f\v\u00a0\u2000-\u200a\u202f\u205f\u3000]{2,}|[\t\f\v\u00a0\u2000-\u200a\u202f\u205f\u3000]/g, ' ')
    .replace(/ ?\n ?/g, '\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
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
