// .jsonl (one JSON object per line) and .json (an array of records, or SQuAD's nested {"data": [...]} layout).
import { BadRecord, type BadRecordSink, type RawRecord } from '../records.ts';
import { jsonErrorLine } from './json-error.ts';

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function readJsonl(text: string, file: string, sink: BadRecordSink): RawRecord[] {
  const out: RawRecord[] = [];
  let lineNo = 0;
  let pos = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  while (pos < text.length) {
    let nl = text.indexOf('\n', pos);
    if (nl < 0) nl = text.length;
    const line = text.slice(pos, nl);
    pos = nl + 1;
    lineNo++;
    if (line.trim() === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (err) {
      sink.report(
        new BadRecord({ file, line: lineNo }, `not valid JSON (${(err as Error).message})`, 'each line of a .jsonl file must be one complete JSON object'),
      );
      continue;
    }
    if (!isObject(value)) {
      sink.report(new BadRecord({ file, line: lineNo }, `expected a JSON object, got ${Array.isArray(value) ? 'an array' : typeof value}`));
      continue;
    }
    out.push({ fields: value, origin: { file, line: lineNo } });
  }
  return out;
}

/** SQuAD layout: {"data": [{"title", "paragraphs": [{"context", "qas": [{"id", "question", "answers": [{"text", "answer_start"}]}]}]}]}. */
function flattenSquad(doc: { data: unknown[] }, file: string, sink: BadRecordSink): RawRecord[] {
  const out: RawRecord[] = [];
  doc.data.forEach((article, a) => {
    const paragraphs = isObject(article) ? article.paragraphs : undefined;
    if (!Array.isArray(paragraphs)) {
      sink.report(new BadRecord({ file, pointer: `/data/${a}` }, 'SQuAD article without a "paragraphs" array'));
      return;
    }
    paragraphs.forEach((para, p) => {
      const qas = isObject(para) ? para.qas : undefined;
      if (!isObject(para) || typeof para.context !== 'string' || !Array.isArray(qas)) {
        sink.report(new BadRecord({ file, pointer: `/data/${a}/paragraphs/${p}` }, 'SQuAD paragraph needs a string "context" and a "qas" array'));
        return;
      }
      qas.forEach((qa, q) => {
        const pointer = `/data/${a}/paragraphs/${p}/qas/${q}`;
        if (!isObject(qa)) {
          sink.report(new BadRecord({ file, pointer }, 'SQuAD question is not an object'));
          return;
        }
        out.push({
          fields: { ...qa, context: para.context, title: (article as Record<string, unknown>).title },
          origin: { file, pointer },
        });
      });
    });
  });
  return out;
}

export function readJson(text: string, file: string, sink: BadRecordSink): RawRecord[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
  } catch (err) {
    const msg = (err as Error).message;
    throw new BadRecord(
      { file, line: jsonErrorLine(text)?.line },
      `not valid JSON (${msg})`,
      'a .json source must be one JSON array of records (or a SQuAD {"data": [...]} file); use .jsonl for one record per line',
    );
  }
  if (isObject(doc) && Array.isArray(doc.data)) return flattenSquad(doc as { data: unknown[] }, file, sink);
  if (!Array.isArray(doc))
    throw new BadRecord(
      { file, line: 1 },
      `expected a JSON array of records or a SQuAD {"data": [...]} object, got ${isObject(doc) ? 'an object with keys ' + Object.keys(doc).slice(0, 5).join(', ') : typeof doc}`,
    );
  const out: RawRecord[] = [];
  doc.forEach((rec, k) => {
    if (!isObject(rec)) sink.report(new BadRecord({ file, pointer: `/${k}` }, `expected a JSON object, got ${Array.isArray(rec) ? 'an array' : typeof rec}`));
    else out.push({ fields: rec, origin: { file, pointer: `/${k}` } });
  });
  return out;
}
