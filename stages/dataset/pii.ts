// PII detection and redaction: e-mail, phone, IPv4/IPv6, Luhn-checked cards, mod-97-checked IBANs, US SSNs and
// secrets with well-known prefixes. Each detector finds candidates by pattern and keeps those that validate.
import type { PiiType } from './schema.ts';

export interface PiiMatch {
  type: PiiType;
  start: number;
  end: number;
}

export const PLACEHOLDERS: Record<PiiType, string> = {
  email: '<EMAIL>',
  phone: '<PHONE>',
  ipv4: '<IP_ADDRESS>',
  ipv6: '<IP_ADDRESS>',
  card: '<CREDIT_CARD>',
  iban: '<IBAN>',
  ssn: '<SSN>',
  secret: '<SECRET>',
};

/** Order of precedence when matches overlap (a secret containing digits is a secret, not a phone number). */
const PRIORITY: PiiType[] = ['secret', 'email', 'iban', 'card', 'ssn', 'ipv6', 'ipv4', 'phone'];

const SECRET_RE = new RegExp(
  [
    /-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----[\s\S]*?-----END (?:[A-Z]+ )?PRIVATE KEY-----/.source,
    /\b(?:AKIA|ASIA)[0-9A-Z]{16}\b/.source, // AWS access key id
    /\bgh[pousr]_[A-Za-z0-9]{36,255}\b/.source, // GitHub tokens
    /\bgithub_pat_[A-Za-z0-9_]{22,255}\b/.source,
    /\bglpat-[A-Za-z0-9_-]{20,}\b/.source, // GitLab
    /\bsk-(?:ant-|proj-)?[A-Za-z0-9_-]{20,}/.source, // OpenAI / Anthropic
    /\b[rs]k_(?:live|test)_[0-9A-Za-z]{16,}\b/.source, // Stripe
    /\bxox[abposr]-[A-Za-z0-9-]{10,}\b/.source, // Slack
    /\bAIza[0-9A-Za-z_-]{35}\b/.source, // Google API key
    /\bhf_[A-Za-z0-9]{30,}\b/.source, // Hugging Face
    /\bnpm_[A-Za-z0-9]{36}\b/.source, // npm
    /\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/.source, // JWT
  ].join('|'),
  'g',
);
const IBAN_RE = /\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b/g;
const CARD_RE = /(?<![\d.,-])\d(?:[ -]?\d){12,18}(?![\d]|[.,-]\d)/g;
const SSN_RE = /(?<![\d-])(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}(?![\d]|-\d)/g;
const IPV4_RE = /(?<![\w.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?![\w]|\.\d)/g;
const IPV6_RE = /(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:(?:\d{1,3}\.){3}\d{1,3}|[0-9A-Fa-f]{1,4})?(?![\w:]|\.\d)/g;
const PHONE_RE = new RegExp(
  [
    /(?:\+1[ .-]?)?(?:\(\d{3}\) ?|\d{3}[.-])\d{3}[.-]\d{4}/.source, // North American: (555) 123-4567, 555-123-4567, 555.123.4567
    /\+\d{1,3}(?:[ .-]?\(?\d{1,4}\)?){2,5}/.source, // international with +country code
    /\b0\d{1,4}(?:[ ]\d{2,4}){2,4}\b/.source, // national trunk prefix with spaces: 020 7946 0958, 06 12 34 56 78
  ]
    .map((s) => `(?:${s})`)
    .join('|'),
  'g',
);
const VERSION_CONTEXT = /\b(?:version|release|v|ver\.?|build|firmware|rev\.?|chapter|section|§|step|figure|table|rule)\s*$/i;

export function luhnValid(digits: string): boolean {
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return sum % 10 === 0;
}

/** IBAN check: move the first four characters to the end, letters to 10..35, the number mod 97 must be 1. */
export function ibanValid(iban: string): boolean {
  const s = iban.replace(/ /g, '');
  if (s.length < 15 || s.length > 34) return false;
  const r = s.slice(4) + s.slice(0, 4);
  let rem = 0;
  for (const ch of r) {
    const c = ch.charCodeAt(0);
    const v = c >= 65 ? c - 55 : c - 48;
    rem = (v > 9 ? rem * 100 + v : rem * 10 + v) % 97;
  }
  return rem === 1;
}

function ipv6Valid(s: string): boolean {
  let body = s;
  let tailGroups = 0;
  const v4 = /(\d{1,3}\.){3}\d{1,3}$/.exec(body);
  if (v4) {
    if (!v4[0].split('.').every((x) => Number(x) <= 255)) return false;
    body = body.slice(0, -v4[0].length);
    if (!body.endsWith(':')) return false;
    body = body.endsWith('::') ? body : body.slice(0, -1);
    tailGroups = 2;
  }
  const halves = body.split('::');
  if (halves.length > 2) return false;
  const groups = (h: string) => (h === '' ? [] : h.split(':'));
  const all = halves.flatMap(groups);
  if (!all.every((g) => /^[0-9A-Fa-f]{1,4}$/.test(g))) return false;
  const n = all.length + tailGroups;
  if (halves.length === 1) return n === 8;
  if (n > 7) return false;
  // "::" forms: a real address has at least 2 explicit groups (or is ::1 / ::), which keeps out "a::b" in code.
  return n >= 2 || s === '::1' || s === '::';
}

const EMAIL_AT_RE = /^[A-Za-z0-9][A-Za-z0-9._%+-]*@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,24}\b/;
const LOCAL_CHAR = /[A-Za-z0-9._%+-]/;

/** E-mail addresses, found from each "@" outwards (a regex tried at every position is slow on text full of "@", like wikitext). */
function findEmails(text: string, out: PiiMatch[]): void {
  let from = 0;
  for (let at = text.indexOf('@'); at >= 0; at = text.indexOf('@', from)) {
    from = at + 1;
    let start = at;
    while (start > 0 && LOCAL_CHAR.test(text[start - 1])) start--;
    while (start < at && !/[A-Za-z0-9]/.test(text[start])) start++; // the local part starts with a letter or digit
    if (start === at) continue;
    const m = EMAIL_AT_RE.exec(text.slice(start, at + 256));
    if (!m) continue;
    out.push({ type: 'email', start, end: start + m[0].length });
    from = start + m[0].length;
  }
}

function collect(re: RegExp, text: string, type: PiiType, keep: (m: string, start: number) => boolean, out: PiiMatch[]): void {
  re.lastIndex = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    if (m[0].length === 0) {
      re.lastIndex++;
      continue;
    }
    if (keep(m[0], m.index)) out.push({ type, start: m.index, end: m.index + m[0].length });
  }
}

/** An IPv6 match has two colons at most 5 apart ("::" or "h:hhhh:"); most texts with colons have none. */
function hasColonPair(text: string): boolean {
  let prev = text.indexOf(':');
  for (let at = prev < 0 ? -1 : text.indexOf(':', prev + 1); at >= 0; at = text.indexOf(':', at + 1)) {
    if (at - prev <= 5) return true;
    prev = at;
  }
  return false;
}

/**
 * False only when no SECRET_RE alternative can match: each one contains "_" (gh*_, github_pat_, [rs]k_, hf_, npm_)
 * or one of these literals. A few substring searches cost less than the regex tried at every position; a literal
 * whose first character is common in prose ("s", "e", "A") is searched only once a rarer part of it was found.
 */
function mayHoldSecret(text: string): boolean {
  return (
    text.includes('_') ||
    (text.includes('BEGIN') && text.includes('-----BEGIN')) ||
    (text.includes('k-') && text.includes('sk-')) ||
    (text.includes('glpat') && text.includes('glpat-')) ||
    text.includes('xox') ||
    (text.includes('KIA') && text.includes('AKIA')) ||
    (text.includes('SIA') && text.includes('ASIA')) ||
    (text.includes('za') && text.includes('AIza')) ||
    (text.includes('yJ') && text.includes('eyJ'))
  );
}

/** All PII in `text` of the given types, non-overlapping, in text order. */
export function findPii(text: string, types: readonly PiiType[]): PiiMatch[] {
  const want = new Set(types);
  const found: PiiMatch[] = [];
  const hasDigit = /\d/.test(text);
  if (want.has('secret') && mayHoldSecret(text)) collect(SECRET_RE, text, 'secret', () => true, found);
  if (want.has('email') && text.includes('@')) findEmails(text, found);
  if (hasDigit) {
    if (want.has('iban')) collect(IBAN_RE, text, 'iban', (m) => ibanValid(m), found);
    if (want.has('card'))
      collect(
        CARD_RE,
        text,
        'card',
        (m) => {
          const d = m.replace(/[ -]/g, '');
          if (/^(\d)\1+$/.test(d)) return false;
          if (/[ -]/.test(m) && !/^\d{4}([ -])\d{4}\1\d{4}\1\d{1,7}$|^\d{4}([ -])\d{6}\2\d{4,5}$/.test(m)) return false; // grouped like a card
          return luhnValid(d);
        },
        found,
      );
    if (want.has('ssn') && text.includes('-')) collect(SSN_RE, text, 'ssn', () => true, found);
    if (want.has('ipv6') && hasColonPair(text)) collect(IPV6_RE, text, 'ipv6', (m) => ipv6Valid(m), found);
    if (want.has('ipv4') && text.includes('.'))
      collect(IPV4_RE, text, 'ipv4', (_m, start) => !VERSION_CONTEXT.test(text.slice(Math.max(0, start - 12), start)), found);
    if (want.has('phone'))
      collect(
        PHONE_RE,
        text,
        'phone',
        (m, start) => {
          const digits = m.replace(/\D/g, '').length;
          if (digits < 9 || digits > 15) return false;
          const before = text[start - 1] ?? '';
          const after = text[start + m.length] ?? '';
          if (/[\w.,/:-]/.test(before) && !/\s/.test(before)) return false; // part of a longer token (a date, a version, an id)
          if (/\d/.test(after) || (/[.,/-]/.test(after) && /\d/.test(text[start + m.length + 1] ?? ''))) return false;
          return true;
        },
        found,
      );
  }
  if (found.length <= 1) return found;
  // Resolve overlaps: higher priority first, then longer.
  found.sort((a, b) => PRIORITY.indexOf(a.type) - PRIORITY.indexOf(b.type) || b.end - b.start - (a.end - a.start) || a.start - b.start);
  const kept: PiiMatch[] = [];
  for (const m of found) if (!kept.some((k) => m.start < k.end && k.start < m.end)) kept.push(m);
  return kept.sort((a, b) => a.start - b.start);
}

/** Replaces each match with its typed placeholder. */
export function redactPii(text: string, matches: PiiMatch[]): string {
  if (matches.length === 0) return text;
  let out = '';
  let pos = 0;
  for (const m of matches) {
    out += text.slice(pos, m.start) + PLACEHOLDERS[m.type];
    pos = m.end;
  }
  return out + text.slice(pos);
}
