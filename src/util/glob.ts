// One glob-to-RegExp compiler for two dialects: project globs (inputs in pipeline.json, `*` stays in one path
// segment) and hub file patterns (huggingface_hub's fnmatch, `*` also crosses `/`). The dialect tables below list
// every place where the two differ; everything else (`{a,b}`, `[...]`/`[!...]`, escaping) is shared.

export interface GlobDialect {
  /** `*` crosses `/` (fnmatch) instead of only `**` doing so (project globs); `?` likewise. */
  starCrossesSlash: boolean;
  /** A `]` right after `[` is a member of the class (fnmatch) instead of closing it. */
  leadingBracketInClass: boolean;
  /** A `\` inside `[...]` is a literal backslash (fnmatch) instead of a RegExp escape. */
  literalBackslashInClass: boolean;
  /** An unclosed `{` is closed at the end (fnmatch) instead of leaving an invalid RegExp (which throws). */
  closeOpenBraces: boolean;
}

/** pipeline.json input globs: `*` and `?` within one segment, `**` across directories (`**` then `/`: zero or more of them). */
export const PROJECT_GLOB: GlobDialect = { starCrossesSlash: false, leadingBracketInClass: false, literalBackslashInClass: false, closeOpenBraces: false };

/** Hub download patterns with huggingface_hub's fnmatch semantics (`*.safetensors` matches `sub/model.safetensors`). */
export const FNMATCH_GLOB: GlobDialect = { starCrossesSlash: true, leadingBracketInClass: true, literalBackslashInClass: true, closeOpenBraces: true };

/** Compiles one pattern to an anchored RegExp in the given dialect. */
export function globToRegExp(pattern: string, dialect: GlobDialect = PROJECT_GLOB): RegExp {
  let re = '';
  let braces = 0;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '*') {
      if (dialect.starCrossesSlash) {
        while (pattern[i + 1] === '*') i++;
        re += '.*';
      } else if (pattern[i + 1] === '*') {
        i++;
        if (pattern[i + 1] === '/') {
          i++;
          re += '(?:.*/)?';
        } else re += '.*';
      } else re += '[^/]*';
    } else if (c === '?') re += dialect.starCrossesSlash ? '.' : '[^/]';
    else if (c === '{') {
      braces++;
      re += '(?:';
    } else if (c === '}' && braces > 0) {
      braces--;
      re += ')';
    } else if (c === ',' && braces > 0) re += '|';
    else if (c === '[') {
      const close = pattern.indexOf(']', i + (dialect.leadingBracketInClass ? 2 : 1));
      if (close < 0) re += '\\[';
      else {
        let cls = pattern.slice(i + 1, close);
        if (dialect.literalBackslashInClass) cls = cls.replace(/\\/g, '\\\\');
        re += `[${cls.startsWith('!') ? `^${cls.slice(1)}` : cls}]`;
        i = close;
      }
    } else re += /[\\^$.*+?()[\]{}|/]/.test(c) ? `\\${c}` : c;
  }
  if (dialect.closeOpenBraces) while (braces-- > 0) re += ')';
  return new RegExp(`^${re}$`);
}

/** True when `path` matches at least one of `patterns`. */
export function matchesAny(path: string, patterns: RegExp[]): boolean {
  return patterns.some((re) => re.test(path));
}
