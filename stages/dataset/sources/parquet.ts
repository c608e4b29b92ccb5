// .parquet files through hyparquet: every row becomes a record; BigInt values become numbers where they fit.
import { asyncBufferFromFile, parquetReadObjects } from 'hyparquet';
import { BadRecord, type RawRecord } from '../records.ts';

function plain(v: unknown): unknown {
  if (typeof v === 'bigint') return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
  if (Array.isArray(v)) return v.map(plain);
  if (v && typeof v === 'object' && !(v instanceof Date) && !(v instanceof Uint8Array)) {
    const o: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) o[k] = plain(x);
    return o;
  }
  return v;
}

export async function readParquet(path: string, file: string): Promise<RawRecord[]> {
  let rows: Record<string, unknown>[];
  try {
    rows = (await parquetReadObjects({ file: await asyncBufferFromFile(path) })) as Record<string, unknown>[];
  } catch (err) {
    throw new BadRecord({ file }, `cannot read parquet (${(err as Error).message})`, 'check that the file is a complete parquet file');
  }
  return rows.map((r, k) => ({ fields: plain(r) as Record<string, unknown>, origin: { file, pointer: `row ${k}` } }));
}
