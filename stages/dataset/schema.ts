// JSON Schema (2020-12) fragment of ONE entry of the `datasets` section of pipeline.json, plus its TypeScript shape.
// Every field has a description and a default; the README's dataset reference is written from this file.

export type DatasetFormat = 'text' | 'chat' | 'instruction' | 'completion' | 'qa';
export type FileFormat = 'auto' | 'txt' | 'md' | 'jsonl' | 'json' | 'csv' | 'parquet';
export type PiiType = 'email' | 'phone' | 'ipv4' | 'ipv6' | 'card' | 'iban' | 'ssn' | 'secret';
export const PII_TYPES: PiiType[] = ['email', 'phone', 'ipv4', 'ipv6', 'card', 'iban', 'ssn', 'secret'];

export interface DatasetSource {
  files?: string[];
  hub?: string;
  config?: string | null;
  split?: string;
  revision?: string;
  examples?: Record<string, unknown>[];
  fileFormat?: FileFormat;
  documents?: 'file' | 'paragraph' | 'line';
}

export interface DatasetConfig {
  description?: string;
  model: string;
  source: DatasetSource;
  format: DatasetFormat;
  fields: Record<string, string>;
  template: {
    prompt: string | null;
    promptNoInput: string | null;
    response: string | null;
    useChatTemplate: boolean;
    chatTemplate: string | null;
    date: string | null;
  };
  clean: {
    nfc: boolean;
    whitespace: boolean;
    strip: 'none' | 'markdown' | 'html';
    minChars: number;
    maxChars: number | null;
    dedup: 'none' | 'exact' | 'near';
    nearDupThreshold: number;
    pii: 'off' | 'redact' | 'drop';
    piiTypes: PiiType[];
  };
  seqLen: number;
  maxTokens: number | null;
  overLength: 'drop' | 'truncate';
  limit: number | null;
  sample: 'random' | 'first';
  seed: number;
  split: { valid: number; seed: number | null; source: DatasetSource | null };
  onError: 'fail' | 'skip';
}

const sourceSchema = {
  type: 'object',
  description:
    'Where the raw records come from: local files by glob, a Hugging Face hub dataset, or inline examples (exactly one of `files`, `hub`, `examples`).',
  additionalProperties: false,
  properties: {
    files: {
      type: 'array',
      items: { type: 'string', minLength: 1 },
      minItems: 1,
      description:
        'Project-relative files or globs (`data/notes/*.md`). .txt/.md are documents, .jsonl one record per line, .json an array of records or SQuAD-style {"data":[{"paragraphs":[{"context","qas"}]}]}, .csv with a header row (RFC 4180), .parquet. A glob matching nothing is an error.',
    },
    hub: {
      type: 'string',
      minLength: 1,
      description:
        'Hugging Face hub dataset id (`wikitext`, `rajpurkar/squad`); its data files (or its parquet conversion) are downloaded into the standard HF cache (HF_HOME / HF_HUB_CACHE; HF_TOKEN for private repos; HF_HUB_OFFLINE=1 for cache only).',
    },
    config: {
      type: ['string', 'null'],
      default: null,
      description: 'Hub dataset config (subset), e.g. `wikitext-2-raw-v1`; null: the only one, or `default`.',
    },
    split: { type: 'string', default: 'train', description: 'Hub dataset split to read (`train`, `validation`, `test`).' },
    revision: {
      type: 'string',
      default: 'main',
      description: 'Hub branch, tag or commit sha; it is resolved to a commit sha, which joins the stage key (pin a sha for reproducible builds).',
    },
    examples: {
      type: 'array',
      items: { type: 'object' },
      description: 'Inline records for tiny sets, with the field names of the format (e.g. {"question", "context", "answers"}).',
    },
    fileFormat: {
      enum: ['auto', 'txt', 'md', 'jsonl', 'json', 'csv', 'parquet'],
      default: 'auto',
      description: 'How to parse the files; `auto` goes by extension (.txt .md .raw .jsonl .json .csv .parquet).',
    },
    documents: {
      enum: ['file', 'paragraph', 'line'],
      default: 'file',
      description: 'For .txt/.md files: one document per file, per blank-line separated paragraph, or per non-empty line.',
    },
  },
  oneOf: [{ required: ['files'] }, { required: ['hub'] }, { required: ['examples'] }],
};

export const datasetSchema = {
  type: 'object',
  description:
    'A dataset stage: reads a source, cleans it, redacts PII, renders the format, tokenizes with the base model, limits and splits it into train.jsonl / valid.jsonl. Each output line is {"ids": [...], "labels": [...], "text": "..."} where labels has the length of ids, labels[i] = ids[i] where the model is trained to predict token i from the tokens before it and -100 where it is not (the Hugging Face convention: the trainer shifts).',
  additionalProperties: false,
  required: ['source', 'model'],
  properties: {
    description: { type: 'string', default: '', description: 'Free text for humans; does not join the stage key.' },
    model: {
      type: 'string',
      minLength: 1,
      description: 'Name of the `models` entry whose tokenizer (and chat template) is used; that model stage is an upstream of this one.',
    },
    source: sourceSchema,
    format: {
      enum: ['text', 'chat', 'instruction', 'completion', 'qa'],
      default: 'text',
      description:
        "`text`: documents packed into `seqLen` token sequences with EOS between documents, loss on every token. `chat`: `messages` rendered with the model's chat template, loss on assistant turns. `instruction` (instruction/input/output), `completion` (prompt/completion), `qa` (context/question/answers): loss on the answer (and the EOS after it) only.",
    },
    fields: {
      type: 'object',
      additionalProperties: { type: 'string', minLength: 1 },
      default: {},
      description:
        'Maps the format\'s field names to the names in the records, e.g. {"question": "q", "answers": "answer.text"} (dotted paths reach into objects). Fields: text; messages; instruction, input, output; prompt, completion; context, question, answers.',
    },
    template: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description:
        'Prompt templates for instruction / completion / qa, with {field} placeholders ({{ and }} for literal braces), and the chat template. null: the built-in template of the format.',
      properties: {
        prompt: {
          type: ['string', 'null'],
          default: null,
          description:
            'Prompt (no loss). Built-in qa: "Context: {context}\\nQuestion: {question}\\nAnswer:"; instruction: "### Instruction:\\n{instruction}\\n\\n### Input:\\n{input}\\n\\n### Response:\\n"; completion: "{prompt}".',
        },
        promptNoInput: {
          type: ['string', 'null'],
          default: null,
          description: 'instruction only: prompt used when `input` is empty. Built-in: "### Instruction:\\n{instruction}\\n\\n### Response:\\n".',
        },
        response: {
          type: ['string', 'null'],
          default: null,
          description: 'Answer part (loss). Built-in qa: " {answer}" (the first answer); instruction: "{output}"; completion: "{completion}". EOS follows it.',
        },
        chatTemplate: {
          type: ['string', 'null'],
          default: null,
          description:
            "A Jinja chat template (the tokenizer_config.json `chat_template` syntax) used instead of the model's, e.g. for a base model that has none. null: the model's.",
        },
        date: {
          type: ['string', 'null'],
          pattern: '^[0-9]{4}-[0-9]{2}-[0-9]{2}$',
          default: null,
          description:
            'The date (YYYY-MM-DD) a chat template sees as today: `strftime_now` formats it and `date_string` is it as "01 Dec 2024" (Llama 3.x templates print it). null: neither is defined, so a template uses its own default (Llama 3.2: 26 Jul 2024). Never the clock, so the data does not change from day to day under one key.',
        },
        useChatTemplate: {
          type: 'boolean',
          default: false,
          description:
            "Render instruction / completion / qa as a user turn (the prompt) and an assistant turn (the response) with the model's chat template instead.",
        },
      },
    },
    clean: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'Cleaning steps, applied in this order to every text field: NFC, markup stripping, whitespace, PII, then length filters and deduplication.',
      properties: {
        nfc: { type: 'boolean', default: true, description: 'Unicode NFC normalisation.' },
        whitespace: {
          type: 'boolean',
          default: true,
          description: 'Normalise whitespace: CRLF to LF, tabs and runs of spaces to one space, trailing spaces removed, at most one blank line, trimmed ends.',
        },
        strip: { enum: ['none', 'markdown', 'html'], default: 'none', description: 'Strip markdown syntax (keeping the text) or HTML tags and entities.' },
        minChars: { type: 'integer', minimum: 0, default: 1, description: 'Drop records whose text (all fields joined) is shorter than this after cleaning.' },
        maxChars: {
          type: ['integer', 'null'],
          minimum: 1,
          default: null,
          description: 'Drop records longer than this many characters after cleaning; null: no limit.',
        },
        dedup: {
          enum: ['none', 'exact', 'near'],
          default: 'exact',
          description:
            '`exact`: drop records identical to an earlier one; `near`: also drop records whose word 5-gram MinHash Jaccard estimate with an earlier one is at least `nearDupThreshold`.',
        },
        nearDupThreshold: {
          type: 'number',
          minimum: 0,
          maximum: 1,
          default: 0.85,
          description: 'Jaccard similarity at which `near` dedup treats two records as duplicates.',
        },
        pii: {
          enum: ['off', 'redact', 'drop'],
          default: 'off',
          description:
            '`redact`: replace PII with typed placeholders (<EMAIL>, <PHONE>, <IP_ADDRESS>, <CREDIT_CARD>, <IBAN>, <SSN>, <SECRET>); `drop`: drop records containing any; counts by type go to stats.json.',
        },
        piiTypes: {
          type: 'array',
          items: { enum: ['email', 'phone', 'ipv4', 'ipv6', 'card', 'iban', 'ssn', 'secret'] },
          uniqueItems: true,
          default: ['email', 'phone', 'ipv4', 'ipv6', 'card', 'iban', 'ssn', 'secret'],
          description: 'Which PII detectors run.',
        },
      },
    },
    seqLen: { type: 'integer', minimum: 2, default: 512, description: '`text` format: tokens per packed training sequence (the last one may be shorter).' },
    maxTokens: {
      type: ['integer', 'null'],
      minimum: 2,
      default: null,
      description:
        'Examples longer than this many tokens are dropped or truncated (`overLength`). null: 2048 for chat / instruction / completion / qa; no cap for `text`, whose documents are split across packed sequences.',
    },
    overLength: { enum: ['drop', 'truncate'], default: 'drop', description: 'What to do with examples over `maxTokens`; both are counted in stats.json.' },
    limit: {
      type: ['integer', 'null'],
      minimum: 1,
      default: null,
      description: 'Keep at most this many records (after cleaning, before the split), chosen by `sample`.',
    },
    sample: {
      enum: ['random', 'first'],
      default: 'random',
      description: 'How `limit` picks records: a seeded random sample (kept in source order) or the first N.',
    },
    seed: { type: 'integer', default: 0, description: 'Seed for `limit` sampling and (unless split.seed is set) for the validation split.' },
    split: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'The validation split: a seeded fraction of the records, or an explicit source of its own.',
      properties: {
        valid: {
          type: 'number',
          minimum: 0,
          maximum: 0.9,
          default: 0.1,
          description: 'Fraction of records (documents for `text`) held out as valid.jsonl, chosen by a seeded hash; ignored when `source` is given.',
        },
        seed: { type: ['integer', 'null'], default: null, description: "Seed of the split; null: the dataset's `seed`." },
        source: {
          anyOf: [{ type: 'null' }, sourceSchema],
          default: null,
          description:
            'Explicit validation records (files, hub split or examples), cleaned and tokenized like the training source; null: split off a fraction.',
        },
      },
    },
    onError: {
      enum: ['fail', 'skip'],
      default: 'fail',
      description:
        '`fail`: a malformed record (JSONL line, CSV row, JSON file, missing field) is an error naming file and line; `skip`: such records are skipped and counted in stats.json.',
    },
  },
} as const;
