// Cleaning functions: NFC, whitespace, markdown and HTML stripping; near-duplicate detection.
import { describe, expect, it } from 'vitest';
import { cleanText, normalizeWhitespace, stripHtml, stripMarkdown } from '../../../stages/dataset/clean.ts';
import { estimatedJaccard, minhash, NearDupIndex } from '../../../stages/dataset/dedup.ts';

describe('cleaning', () => {
  it('NFC joins decomposed accents', () => {
    const decomposed = 'Cafe\u0301 de\u0301ja\u0300';
    expect(cleanText(decomposed, { nfc: true, whitespace: false, strip: 'none' })).toBe('Café déjà');
    expect(cleanText(decomposed, { nfc: false, whitespace: false, strip: 'none' })).toBe(decomposed);
  });

  it('normalises whitespace', () => {
    expect(normalizeWhitespace('  a\t\tb  \r\n\r\n\r\n\r\nc \u00a0 d\u200b \n')).toBe('a b\n\nc d');
  });

  it('strips markdown and keeps the text', () => {
    const md =
      '# Title\n\nSome **bold** and *italic* and `code`, a [link](http://x.io) and ![alt text](img.png).\n\n> quoted\n\n- item one\n1. item two\n\n```js\nconst x = 1;\n```\n\n| a | b |\n|---|---|\n';
    expect(normalizeWhitespace(stripMarkdown(md))).toBe(
      'Title\n\nSome bold and italic and code, a link and alt text.\n\nquoted\n\nitem one\nitem two\n\nconst x = 1;\n\n| a | b |',
    );
  });

  it('strips HTML tags, scripts and entities', () => {
    expect(normalizeWhitespace(stripHtml('<p>Hello&nbsp;<b>world</b> &amp; &#x263A; &lt;3</p><script>evil()</script><!-- c -->'))).toBe('Hello world & ☺ <3');
  });

  it('snake_case words and arithmetic are not taken for emphasis', () => {
    expect(stripMarkdown('use snake_case_name and 2 * 3 * 4')).toBe('use snake_case_name and 2 * 3 * 4');
  });
});

describe('near-duplicate detection', () => {
  const base =
    'the quick brown fox jumps over the lazy dog while the cat sleeps on the warm mat near the door of the old house at the end of a long street where children play football every afternoon until their parents call them home for dinner and the sun goes down behind the hills';
  it('flags a one-word edit and keeps an unrelated text', () => {
    expect(estimatedJaccard(minhash(base), minhash(base))).toBe(1);
    const idx = new NearDupIndex(0.7);
    expect(idx.isDuplicate(base)).toBe(false);
    expect(idx.isDuplicate(base.replace('lazy', 'sleepy'))).toBe(true);
    expect(idx.isDuplicate('an entirely different sentence about parsing csv files with quoted fields and embedded newlines in them')).toBe(false);
  });
});
