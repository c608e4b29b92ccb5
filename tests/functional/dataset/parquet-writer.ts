// A minimal parquet writer for tests (no parquet writer is installed): one row group, REQUIRED string (UTF8
// BYTE_ARRAY) and int64 columns, PLAIN encoding, uncompressed data pages, Thrift compact-protocol metadata.

type Field = [id: number, type: number, write: (w: Writer) => void];

const T = { I32: 5, I64: 6, BINARY: 8, LIST: 9, STRUCT: 12 } as const;

class Writer {
  bytes: number[] = [];
  varint(n: bigint): void {
    let v = n;
    while (v >= 0x80n) {
      this.bytes.push(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    this.bytes.push(Number(v));
  }
  zigzag(n: number | bigint): void {
    const v = BigInt(n);
    this.varint(v >= 0n ? v << 1n : (-v << 1n) - 1n);
  }
  binary(b: Buffer): void {
    this.varint(BigInt(b.length));
    for (const x of b) this.bytes.push(x);
  }
  struct(fields: Field[]): void {
    let last = 0;
    for (const [id, type, write] of fields) {
      const delta = id - last;
      if (delta > 0 && delta <= 15) this.bytes.push((delta << 4) | type);
      else {
        this.bytes.push(type);
        this.zigzag(id);
      }
      write(this);
      last = id;
    }
    this.bytes.push(0);
  }
  list(elemType: number, items: ((w: Writer) => void)[]): void {
    if (items.length < 15) this.bytes.push((items.length << 4) | elemType);
    else {
      this.bytes.push(0xf0 | elemType);
      this.varint(BigInt(items.length));
    }
    for (const it of items) it(this);
  }
}

const i32 = (id: number, v: number): Field => [id, T.I32, (w) => w.zigzag(v)];
const i64 = (id: number, v: number): Field => [id, T.I64, (w) => w.zigzag(v)];
const str = (id: number, v: string): Field => [id, T.BINARY, (w) => w.binary(Buffer.from(v))];

export type Column = { name: string; type: 'string'; values: string[] } | { name: string; type: 'int64'; values: number[] };

export function writeParquet(columns: Column[]): Buffer {
  const numRows = columns[0].values.length;
  const parts: Buffer[] = [Buffer.from('PAR1')];
  let offset = 4;
  const chunks: { col: Column; pageOffset: number; size: number }[] = [];
  for (const col of columns) {
    const data =
      col.type === 'string'
        ? Buffer.concat(
            col.values.flatMap((v) => {
              const b = Buffer.from(v);
              const len = Buffer.alloc(4);
              len.writeUInt32LE(b.length);
              return [len, b];
            }),
          )
        : Buffer.concat(
            col.values.map((v) => {
              const b = Buffer.alloc(8);
              b.writeBigInt64LE(BigInt(v));
              return b;
            }),
          );
    const header = new Writer();
    header.struct([
      i32(1, 0), // DATA_PAGE
      i32(2, data.length),
      i32(3, data.length),
      [5, T.STRUCT, (w) => w.struct([i32(1, numRows), i32(2, 0), i32(3, 3), i32(4, 3)])],
    ]);
    const page = Buffer.concat([Buffer.from(header.bytes), data]);
    chunks.push({ col, pageOffset: offset, size: page.length });
    parts.push(page);
    offset += page.length;
  }
  const meta = new Writer();
  meta.struct([
    i32(1, 1),
    [
      2,
      T.LIST,
      (w) =>
        w.list(T.STRUCT, [
          (x) => x.struct([str(4, 'schema'), i32(5, columns.length)]),
          ...columns.map(
            (c) => (x: Writer) => x.struct([i32(1, c.type === 'string' ? 6 : 2), i32(3, 0), str(4, c.name), ...(c.type === 'string' ? [i32(6, 0)] : [])]),
          ),
        ]),
    ],
    i64(3, numRows),
    [
      4,
      T.LIST,
      (w) =>
        w.list(T.STRUCT, [
          (x) =>
            x.struct([
              [
                1,
                T.LIST,
                (y) =>
                  y.list(
                    T.STRUCT,
                    chunks.map(
                      (c) => (z: Writer) =>
                        z.struct([
                          i64(2, c.pageOffset),
                          [
                            3,
                            T.STRUCT,
                            (m) =>
                              m.struct([
                                i32(1, c.col.type === 'string' ? 6 : 2),
                                [2, T.LIST, (l) => l.list(T.I32, [(e) => e.zigzag(0)])],
                                [3, T.LIST, (l) => l.list(T.BINARY, [(e) => e.binary(Buffer.from(c.col.name))])],
                                i32(4, 0),
                                i64(5, numRows),
                                i64(6, c.size),
                                i64(7, c.size),
                                i64(9, c.pageOffset),
                              ]),
                          ],
                        ]),
                    ),
                  ),
              ],
              i64(
                2,
                chunks.reduce((a, c) => a + c.size, 0),
              ),
              i64(3, numRows),
            ]),
        ]),
    ],
  ]);
  const footer = Buffer.from(meta.bytes);
  const len = Buffer.alloc(4);
  len.writeUInt32LE(footer.length);
  parts.push(footer, len, Buffer.from('PAR1'));
  return Buffer.concat(parts);
}
