// Renders chat `messages` with a model's Jinja chat template (tokenizer_config.json `chat_template`) via @huggingface/jinja,
// with a fixed date (or none) in place of the clock, so a template that prints today's date renders the same every day.
import { Environment, Interpreter, Template } from '@huggingface/jinja';
import { PeftError } from '../errors.ts';

export interface ChatMessage {
  role: string;
  content: string;
}

export interface ChatTemplate {
  source: string;
  /** The date the template sees as today's (YYYY-MM-DD), or null: none (strftime_now and date_string undefined). */
  date: string | null;
  render(messages: ChatMessage[], opts?: { addGenerationPrompt?: boolean }): string;
}

/** tokenizer_config's chat_template may be a string or a list of {name, template}; the `default` one is used. */
export function pickChatTemplate(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) {
    const named = value as { name?: string; template?: string }[];
    return (named.find((t) => t.name === 'default') ?? named[0])?.template;
  }
  return undefined;
}

const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];
const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];

/** The calendar date of a `YYYY-MM-DD` string (UTC midnight), or undefined when it is not one. */
export function parseTemplateDate(value: string): Date | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value);
  if (!m) return undefined;
  const d = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])));
  return d.getUTCFullYear() === Number(m[1]) && d.getUTCMonth() === Number(m[2]) - 1 && d.getUTCDate() === Number(m[3]) ? d : undefined;
}

/** Python's strftime for a date at midnight in the C locale (English names), the directives chat templates use. */
export function strftimeDate(d: Date, format: string): string {
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  const yday = Math.round((d.getTime() - Date.UTC(d.getUTCFullYear(), 0, 1)) / 86_400_000) + 1;
  const fields: Record<string, string> = {
    Y: String(d.getUTCFullYear()),
    y: pad(d.getUTCFullYear() % 100),
    m: pad(d.getUTCMonth() + 1),
    d: pad(d.getUTCDate()),
    e: String(d.getUTCDate()).padStart(2, ' '),
    B: MONTHS[d.getUTCMonth()],
    b: MONTHS[d.getUTCMonth()].slice(0, 3),
    A: DAYS[d.getUTCDay()],
    a: DAYS[d.getUTCDay()].slice(0, 3),
    j: pad(yday, 3),
    H: '00',
    M: '00',
    S: '00',
    '%': '%',
  };
  return format.replace(/%(.)/g, (all, c: string) => fields[c] ?? all);
}

/** The globals @huggingface/jinja's Template.render sets up, with strftime_now taken from `date` (absent without one). */
function environment(date: Date | undefined): Environment {
  const env = new Environment();
  for (const [k, v] of Object.entries({ false: false, true: true, none: null, False: false, True: true, None: null })) env.set(k, v);
  env.set('raise_exception', (message: string) => {
    throw new Error(message);
  });
  env.set('range', (start: number, stop?: number, step = 1) => {
    if (stop === undefined) [start, stop] = [0, start];
    if (step === 0) throw new Error('range() step must not be zero');
    const out: number[] = [];
    for (let i = start; step > 0 ? i < stop : i > stop; i += step) out.push(i);
    return out;
  });
  if (date) {
    env.set('strftime_now', (format: string) => strftimeDate(date, format));
    env.set('date_string', strftimeDate(date, '%d %b %Y'));
  }
  return env;
}

/**
 * `date` (YYYY-MM-DD) is what the template sees as today (strftime_now, and date_string as Llama's templates format it);
 * without one neither is defined, so templates fall back to their own default date. Never the clock: a dataset's
 * rendering depends on its config alone.
 */
export function compileChatTemplate(
  source: string,
  specials: { bos_token?: string; eos_token?: string },
  origin: string,
  opts: { date?: string | null } = {},
): ChatTemplate {
  const date = opts.date ? parseTemplateDate(opts.date) : undefined;
  if (opts.date && !date)
    throw new PeftError('E_CONFIG_SEMANTIC', `${origin}: the chat template date "${opts.date}" is not a calendar date`, { hint: 'write it as YYYY-MM-DD' });
  let tpl: Template;
  try {
    tpl = new Template(source);
  } catch (err) {
    throw new PeftError('E_MODEL', `${origin}: chat template does not parse (${(err as Error).message})`, { file: origin });
  }
  return {
    source,
    date: opts.date ?? null,
    render(messages, r = {}) {
      const env = environment(date);
      env.set('messages', messages);
      env.set('add_generation_prompt', r.addGenerationPrompt ?? false);
      env.set('bos_token', specials.bos_token ?? '');
      env.set('eos_token', specials.eos_token ?? '');
      try {
        return new Interpreter(env).run(tpl.parsed).value as string;
      } catch (err) {
        const needsDate = !date && /strftime_now|date_string/.test(source) && /strftime_now|date_string|not a function|undefined/i.test((err as Error).message);
        if (needsDate)
          throw new PeftError(
            'E_DATA',
            `${origin}: the chat template calls strftime_now (today's date), and no date is set for it (${(err as Error).message})`,
            {
              file: origin,
              hint: 'set "template": {"date": "YYYY-MM-DD"} on the dataset: the date the template prints, fixed so the dataset does not change from day to day',
            },
          );
        throw new PeftError('E_DATA', `${origin}: chat template failed on these messages: ${(err as Error).message}`, { file: origin });
      }
    },
  };
}
