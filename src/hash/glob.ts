// Project glob patterns: `*` and `?` stay within one path segment, `**` crosses directories, `{a,b}` alternatives.

export function globToRegExp(pattern: string): RegExp {
  let re = '';
  let braces = 0;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '*') {
      if (pattern[i + 1] === '*') {
        i++;
        if (pattern[i + 1] === '/') {
          i++;
          re += '(?:.*/)?';
        } else re += '.*';
      } else re += '[^/]*';
    } else if (c === '?') re += '[^/]';
    else if (c === '{') {
      braces++;
      re += '(?:';
    } else if (c === '}' && braces > 0) {
      braces--;
      re += ')';
    } else if (c === ',' && braces > 0) re += '|';
    else if (c === '[') {
      const close = pattern.indexOf(']', i + 1);
      if (close < 0) re += '\\[';
      else {
        const cls = pattern.slice(i + 1, close);
        re += `[${cls.startsWith('!') ? `^${cls.slice(1)}` : cls}]`;
        i = close;
      }
    } else re += /[\\^$.+()|/\]]/.test(c) ? `\\${c}` : c;
  }
  return new RegExp(`^${re}$`);
}
