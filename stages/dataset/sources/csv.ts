// RFC 4180 CSV parsing: quoted fields with "" escapes and embedded newlines, CRLF or LF rows, a header row.
import { BadRecord, type BadRecordSink, type RawRecord } from '../records.ts';

/**
 * Splits CSV text into rows of fields, each with the line it starts on. A broken row is reported to `sink` (which
 * throws under onError "fail"); a stray quote skips to the next line, an unterminated quote ends the file.
 */
export function parseCsvRows(text: string, file: string, sink: BadRecordSink): { fields: string[]; line: number }[] {
  const rows: { fields: string[]; line: number }[] = [];
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  let line = 1;
  const n = text.length;
  while (i < n) {
    try {
      i = parseRow();
    } catch (err) {
      if (!(err instanceof BadRecord)) throw err;
      sink.report(err);
      if (/unterminated/.test(err.reason)) break;
      const nl = text.indexOf('\n', i);
      i = nl < 0 ? n : nl + 1;
      line = (err.details.line ?? line) + 1;
    }
  }
  return rows;

  function parseRow(): number {
    const rowLine = line;
    const fields: string[] = [];
    for (;;) {
      let value = '';
      if (text[i] === '"') {
        const quoteLine = line;
        i++;
        for (;;) {
          const q = text.indexOf('"', i);
          if (q < 0)
            throw new BadRecord(
              { file, line: quoteLine },
              'unterminated quoted field (a " opens a field that never closes)',
              'close the quote, or double a literal " as ""',
            );
          const chunk = text.slice(i, q);
          for (let k = chunk.indexOf('\n'); k >= 0; k = chunk.indexOf('\n', k + 1)) line++;
          value += chunk;
          if (text[q + 1] === '"') {
            value += '"';
            i = q + 2;
            continue;
          }
          i = q + 1;
          break;
        }
        const c = text[i];
        if (i < n && c !== ',' && c !== '\n' && c !== '\r')
          throw new BadRecord(
            { file, line },
            `unexpected character ${JSON.stringify(c)} after a closing quote`,
            'a quoted field must end at a comma or the end of the row',
          );
      } else {
        let j = i;
        while (j < n) {
          const c = text.charCodeAt(j);
          if (c === 44 || c === 10 || c === 13) break;
          if (c === 34) throw new BadRecord({ file, line }, 'a " inside an unquoted field', 'quote the whole field and double the inner quote ("a ""b"" c")');
          j++;
        }
        value = text.slice(i, j);
        i = j;
      }
      fields.push(value);
      if (i >= n) break;
      if (text[i] === ',') {
        i++;
        continue;
      }
      if (text[i] === '\r') i++;
      if (text[i] === '\n') i++;
      line++;
      break;
    }
    if (!(fields.length === 1 && fields[0] === '')) rows.push({ fields, line: rowLine }); // blank lines are not records
    return i;
  }
}

/** Records of a CSV file with a header row; rows with the wrong number of fields are bad records. */
export function readCsv(text: string, file: string, sink: BadRecordSink): RawRecord[] {
  const rows = parseCsvRows(text, file, sink);
  if (rows.length === 0) return [];
  const header = rows[0].fields;
  const out: RawRecord[] = [];
  for (const row of rows.slice(1)) {
    if (row.fields.length !== header.length) {
      sink.report(
        new BadRecord(
          { file, line: row.line },
          `row has ${row.fields.length} fields, the header has ${header.length} (${header.join(', ')})`,
          'quote fields that contain commas',
        ),
      );
      continue;
    }
    const fields: Record<string, unknown> = {};
    header.forEach((h, k) => (fields[h] = row.fields[k]));
    out.push({ fields, origin: { file, line: row.line } });
  }
  return out;
}
