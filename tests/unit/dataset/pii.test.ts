// PII detection tables: every positive case is found with its type and exact span; no negative case is flagged.
import { describe, expect, it } from 'vitest';
import { findPii, ibanValid, luhnValid, redactPii } from '../../../stages/dataset/pii.ts';
import { PII_TYPES, type PiiType } from '../../../stages/dataset/schema.ts';

const positives: [string, PiiType, string][] = [
  ['Write to jane.doe@example.com today', 'email', 'jane.doe@example.com'],
  ['contact: a+tag@mail.co.uk.', 'email', 'a+tag@mail.co.uk'],
  ['Call (555) 123-4567 now', 'phone', '(555) 123-4567'],
  ['Call 555-123-4567.', 'phone', '555-123-4567'],
  ['tel 555.123.4567', 'phone', '555.123.4567'],
  ['ring +1 555 123 4567 after 6', 'phone', '+1 555 123 4567'],
  ['UK office +44 20 7946 0958', 'phone', '+44 20 7946 0958'],
  ['Paris: +33 6 12 34 56 78', 'phone', '+33 6 12 34 56 78'],
  ['London 020 7946 0958 is closed', 'phone', '020 7946 0958'],
  ['server at 192.168.1.20 is down', 'ipv4', '192.168.1.20'],
  ['ping 8.8.8.8', 'ipv4', '8.8.8.8'],
  ['Server 10.1.2.3 (ver is a word ending here)', 'ipv4', '10.1.2.3'],
  ['host 2001:db8:85a3::8a2e:370:7334 up', 'ipv6', '2001:db8:85a3::8a2e:370:7334'],
  ['full 2001:0db8:0000:0000:0000:ff00:0042:8329 here', 'ipv6', '2001:0db8:0000:0000:0000:ff00:0042:8329'],
  ['loopback ::1 only', 'ipv6', '::1'],
  ['mapped ::ffff:192.0.2.128 ok', 'ipv6', '::ffff:192.0.2.128'],
  ['card 4111 1111 1111 1111 exp', 'card', '4111 1111 1111 1111'],
  ['card 4111-1111-1111-1111', 'card', '4111-1111-1111-1111'],
  ['visa 4012888888881881 thanks', 'card', '4012888888881881'],
  ['amex 3782 822463 10005', 'card', '3782 822463 10005'],
  ['IBAN GB82 WEST 1234 5698 7654 32 please', 'iban', 'GB82 WEST 1234 5698 7654 32'],
  ['pay DE89370400440532013000', 'iban', 'DE89370400440532013000'],
  ['SSN 123-45-6789 on file', 'ssn', '123-45-6789'],
  ['key AKIAIOSFODNN7EXAMPLE leaked', 'secret', 'AKIAIOSFODNN7EXAMPLE'],
  ['token ghp_abcdefghijklmnopqrstuvwxyz0123456789 x', 'secret', 'ghp_abcdefghijklmnopqrstuvwxyz0123456789'],
  ['OPENAI_API_KEY=sk-proj-abcdefghijklmnopqrstuvwx1234', 'secret', 'sk-proj-abcdefghijklmnopqrstuvwx1234'],
  ['stripe sk_live_4eC39HqLyjWDarjtT1zdp7dc', 'secret', 'sk_live_4eC39HqLyjWDarjtT1zdp7dc'],
  ['slack xoxb-123456789012-abcdefghij', 'secret', 'xoxb-123456789012-abcdefghij'],
  ['google AIzaSyA1234567890abcdefghijklmnopqrstuv', 'secret', 'AIzaSyA1234567890abcdefghijklmnopqrstuv'],
  ['hf hf_abcdefghijklmnopqrstuvwxyzABCDEFGH', 'secret', 'hf_abcdefghijklmnopqrstuvwxyzABCDEFGH'],
];

const negatives: string[] = [
  'The meeting is on 2023-10-15 at 14:30.',
  'Born 15/10/1987, died 03.04.2020.',
  'Released in version 1.2.3 and v2.10.4; see 3.11.0-rc1.',
  'Upgrade to version 10.0.0.1 of the firmware.',
  'It costs $1,234.56 or €99.99 (was $2,000).',
  'Population: 1234567890 people in 2021, up 12.5%.',
  'The ratio 3:2:1 and time 12:30:45 are fine.',
  'C++ code: std::vector<int> v; a::b::c();',
  'ISBN 978-3-16-148410-0 is a book.',
  'Order number 1234 5678 9012 3456 failed the checksum.',
  'Call extension 4567 or room 123.',
  'Coordinates 48.8566, 2.3522 in Paris.',
  'Pi is 3.14159265358979.',
  'DE89 is not an IBAN, nor is GB00 WEST 1234 5698 7654 32.',
  'sk-short and ghp_short are not secrets; neither is AKIA.',
  'Email me at name at example dot com.',
  'Hash 5f4dcc3b5aa765d61d8327deb882cf99 of a password.',
  'A range of 100-200-300 units.',
  'Year range 1990-2000, pages 123-145.',
  'Chapter 1.2.3.4 of the manual.',
];

describe('PII detectors', () => {
  it.each(positives)('finds %j as %s', (text, type, span) => {
    const found = findPii(text, PII_TYPES);
    expect(found.map((m) => ({ type: m.type, text: text.slice(m.start, m.end) }))).toEqual([{ type, text: span }]);
  });

  it.each(negatives)('does not flag %j', (text) => {
    expect(findPii(text, PII_TYPES).map((m) => `${m.type}:${text.slice(m.start, m.end)}`)).toEqual([]);
  });

  it('redacts with typed placeholders and keeps the rest', () => {
    const text = 'Mail bob@corp.io or call 555-123-4567 from 10.0.0.1 with card 4111 1111 1111 1111.';
    expect(redactPii(text, findPii(text, PII_TYPES))).toBe('Mail <EMAIL> or call <PHONE> from <IP_ADDRESS> with card <CREDIT_CARD>.');
  });

  it('runs only the detectors asked for', () => {
    const text = 'bob@corp.io 555-123-4567';
    expect(findPii(text, ['phone']).map((m) => m.type)).toEqual(['phone']);
  });

  it('checks Luhn and mod-97', () => {
    expect(luhnValid('4111111111111111')).toBe(true);
    expect(luhnValid('4111111111111112')).toBe(false);
    expect(ibanValid('GB82WEST12345698765432')).toBe(true);
    expect(ibanValid('GB83WEST12345698765432')).toBe(false);
  });
});
