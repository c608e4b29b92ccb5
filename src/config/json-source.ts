// Strict JSON parser that also records, for every JSON pointer, the line it sits on and flags duplicate keys,
// so that schema and semantic errors can say `pipeline.json:14 /adapters/qa/lora/r: ...`.

export interface JsonLocation {
  line: number; // 1-based line of the value
  keyLine?: number; // 1-based line of the member name, for object members
}

export interface ParsedJson {
  value: unknown;
  locations: Map<string, JsonLocation>;
  duplicates: { pointer: string; line: number }[];
}

export class JsonSyntaxError extends Error {
  constructor(
    message: string,
    readonly line: number,
    readonly column: number,
  ) {
    super(message);
  }
}

/** Escapes one reference token of a JSON pointer (RFC 6901). */
export function escapePointerToken(token: string): string {
  return token.replace(/~/g, '~0').replace(/\//g, '~1');
}

/** The deepest nesting of objects and arrays accepted. */
export const MAX_DEPTH = 256;

export function parseJsonWithLocations(text: string): ParsedJson {
  let pos = 0;
  let line = 1;
  let lineStart = 0;
  const locations = new Map<string, JsonLocation>();
  const duplicates: { pointer: string; line: number }[] = [];

  const fail = (msg: string): never => {
    throw new JsonSyntaxError(msg, line, pos - lineStart + 1);
  };
  const describe = (): string => (pos >= text.length ? 'end of file' : `${JSON.stringify(text[pos])}`);

  const skipWs = (): void => {
    while (pos < text.length) {
      const c = text.charCodeAt(pos);
      if (c === 10) {
        line++;
        pos++;
        lineStart = pos;
      } else if (c === 32 || c === 9 || c === 13) pos++;
      else break;
    }
  };

  const parseString = (): string => {
    const start = pos;
    pos++; // opening quote
    let out = '';
    let chunk = pos;
    while (true) {
      if (pos >= text.length) {
        pos = start;
        fail('unterminated string');
      }
      const c = text.charCodeAt(pos);
      if (c === 34) break;
      if (c < 32) fail('control character in string (escape it, e.g. \\n)');
      if (c === 92) {
        out += text.slice(chunk, pos);
        const e = text[pos + 1];
        const map: Record<string, string> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };
        if (e === 'u') {
          const hex = text.slice(pos + 2, pos + 6);
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) fail('bad \\u escape in string');
          out += String.fromCharCode(parseInt(hex, 16));
          pos += 6;
        } else if (e !== undefined && e in map) {
          out += map[e];
          pos += 2;
        } else fail(`bad escape \\${e ?? ''} in string`);
        chunk = pos;
        continue;
      }
      pos++;
    }
    out += text.slice(chunk, pos);
    pos++; // closing quote
    return out;
  };

  const parseNumber = (): number => {
    const m = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(pos, pos + 400));
    if (!m) fail(`unexpected ${describe()}`);
    pos += m![0].length;
    return Number(m![0]);
  };

  // Nesting is capped: a pipeline is a few levels deep, and a hostile file must end in an error, not a stack overflow.
  let depth = 0;
  const parseValue = (pointer: string, keyLine?: number): unknown => {
    if (++depth > MAX_DEPTH) fail(`nesting deeper than ${MAX_DEPTH} levels (a pipeline file is a few levels deep)`);
    try {
      return parseValueAt(pointer, keyLine);
    } finally {
      depth--;
    }
  };
  const parseValueAt = (pointer: string, keyLine?: number): unknown => {
    skipWs();
    locations.set(pointer, { line, keyLine });
    const c = text[pos];
    if (c === '{') {
      pos++;
      const obj: Record<string, unknown> = {};
      skipWs();
      if (text[pos] === '}') {
        pos++;
        return obj;
      }
      while (true) {
        skipWs();
        if (text[pos] !== '"') fail(`expected a member name in double quotes, found ${describe()}`);
        const kLine = line;
        const key = parseString();
        const childPointer = `${pointer}/${escapePointerToken(key)}`;
        if (Object.hasOwn(obj, key)) duplicates.push({ pointer: childPointer, line: kLine });
        skipWs();
        if (text[pos] !== ':') fail(`expected ":" after member name, found ${describe()}`);
        pos++;
        const v = parseValue(childPointer, kLine);
        Object.defineProperty(obj, key, { value: v, enumerable: true, writable: true, configurable: true });
        skipWs();
        if (text[pos] === ',') {
          pos++;
          skipWs();
          if (text[pos] === '}') fail('trailing comma before "}"');
          continue;
        }
        if (text[pos] === '}') {
          pos++;
          return obj;
        }
        fail(`expected "," or "}" in object, found ${describe()}`);
      }
    }
    if (c === '[') {
      pos++;
      const arr: unknown[] = [];
      skipWs();
      if (text[pos] === ']') {
        pos++;
        return arr;
      }
      while (true) {
        arr.push(parseValue(`${pointer}/${arr.length}`));
        skipWs();
        if (text[pos] === ',') {
          pos++;
          skipWs();
          if (text[pos] === ']') fail('trailing comma before "]"');
          continue;
        }
        if (text[pos] === ']') {
          pos++;
          return arr;
        }
        fail(`expected "," or "]" in array, found ${describe()}`);
      }
    }
    if (c === '"') return parseString();
    if (c === '-' || (c !== undefined && c >= '0' && c <= '9')) return parseNumber();
    for (const [word, v] of [
      ['true', true],
      ['false', false],
      ['null', null],
    ] as const) {
      if (text.startsWith(word, pos)) {
        pos += word.length;
        return v;
      }
    }
    return fail(`unexpected ${describe()}`);
  };

  if (text.charCodeAt(0) === 0xfeff) pos = 1;
  const value = parseValue('');
  skipWs();
  if (pos < text.length) fail(`unexpected ${describe()} after the end of the document`);
  return { value, locations, duplicates };
}

/** The line to report for a pointer: the member's own line, else the nearest ancestor that has one. */
export function lineOf(locations: Map<string, JsonLocation>, pointer: string, preferKey = false): number | undefined {
  let p = pointer;
  while (true) {
    const loc = locations.get(p);
    if (loc) return preferKey ? (loc.keyLine ?? loc.line) : loc.line;
    if (p === '') return undefined;
    p = p.slice(0, p.lastIndexOf('/'));
  }
}
