// A small graph-building layer over onnx-proto (protobufjs' compiled onnx.proto): nodes with unique output names,
// typed initializers (raw little-endian bytes), inputs and outputs with symbolic dims; encodes a ModelProto.
import onnxProto from 'onnx-proto';
import { toHalfArray } from '../../../src/hf/half-floats.ts';

const { onnx } = onnxProto;
export type Elem = 'float32' | 'float16';
export const ELEM: Record<Elem | 'int64' | 'bool', number> = {
  float32: onnx.TensorProto.DataType.FLOAT,
  float16: onnx.TensorProto.DataType.FLOAT16,
  int64: onnx.TensorProto.DataType.INT64,
  bool: onnx.TensorProto.DataType.BOOL,
};

type Attr = number | number[] | string | { float: number };

export class GraphBuilder {
  private nodes: InstanceType<typeof onnx.NodeProto>[] = [];
  private inits: InstanceType<typeof onnx.TensorProto>[] = [];
  private inputs: InstanceType<typeof onnx.ValueInfoProto>[] = [];
  private outputs: InstanceType<typeof onnx.ValueInfoProto>[] = [];
  private n = 0;
  private consts = new Map<string, string>();

  /** Adds a node; returns its output names (fresh unless given). */
  op(type: string, inputs: string[], attrs: Record<string, Attr> = {}, outputs: number | string[] = 1): string[] {
    const outs = typeof outputs === 'number' ? Array.from({ length: outputs }, () => `/${type.toLowerCase()}_${this.n++}`) : outputs;
    const attribute = Object.entries(attrs).map(([name, v]) => {
      if (typeof v === 'string') return onnx.AttributeProto.create({ name, type: onnx.AttributeProto.AttributeType.STRING, s: Buffer.from(v) });
      if (Array.isArray(v)) return onnx.AttributeProto.create({ name, type: onnx.AttributeProto.AttributeType.INTS, ints: v });
      if (typeof v === 'object') return onnx.AttributeProto.create({ name, type: onnx.AttributeProto.AttributeType.FLOAT, f: v.float });
      return onnx.AttributeProto.create({ name, type: onnx.AttributeProto.AttributeType.INT, i: v });
    });
    this.nodes.push(onnx.NodeProto.create({ opType: type, input: inputs, output: outs, name: `${type}_${this.nodes.length}`, attribute }));
    return outs;
  }
  one(type: string, inputs: string[], attrs: Record<string, Attr> = {}, output?: string): string {
    return this.op(type, inputs, attrs, output ? [output] : 1)[0];
  }

  /** A float initializer stored as `elem` (float16 rounds to nearest even). */
  weight(name: string, dims: number[], data: Float32Array, elem: Elem): string {
    let raw: Uint8Array;
    if (elem === 'float32') raw = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    else {
      raw = new Uint8Array(toHalfArray(data).buffer);
    }
    this.inits.push(onnx.TensorProto.create({ name, dims, dataType: ELEM[elem], rawData: raw }));
    return name;
  }
  /** An int64 constant (cached by value). */
  ints(values: number[], scalar = false): string {
    const key = `i${scalar ? 's' : ''}:${values.join(',')}`;
    const hit = this.consts.get(key);
    if (hit) return hit;
    const name = `/const_${this.consts.size}`;
    const b = Buffer.alloc(8 * values.length);
    values.forEach((v, i) => b.writeBigInt64LE(BigInt(v), 8 * i));
    this.inits.push(onnx.TensorProto.create({ name, dims: scalar ? [] : [values.length], dataType: ELEM.int64, rawData: b }));
    this.consts.set(key, name);
    return name;
  }
  /** A float constant of element type `elem` (cached by value). */
  scalar(v: number, elem: Elem, dims: number[] = []): string {
    const key = `f:${elem}:${v}:${dims.join(',')}`;
    const hit = this.consts.get(key);
    if (hit) return hit;
    const name = `/const_${this.consts.size}`;
    const count = dims.reduce((a, b) => a * b, 1);
    this.weight(name, dims, new Float32Array(count).fill(v), elem);
    this.consts.set(key, name);
    return name;
  }
  input(name: string, elem: keyof typeof ELEM, dims: (number | string)[]): string {
    this.inputs.push(valueInfo(name, elem, dims));
    return name;
  }
  output(name: string, elem: keyof typeof ELEM, dims: (number | string)[]): void {
    this.outputs.push(valueInfo(name, elem, dims));
  }
  encode(meta: { producer: string; version: string; doc: string; props: Record<string, string> }, opset: number): Uint8Array {
    const graph = onnx.GraphProto.create({ name: 'decoder', node: this.nodes, initializer: this.inits, input: this.inputs, output: this.outputs });
    const model = onnx.ModelProto.create({
      irVersion: 8,
      producerName: meta.producer,
      producerVersion: meta.version,
      docString: meta.doc,
      opsetImport: [onnx.OperatorSetIdProto.create({ domain: '', version: opset })],
      metadataProps: Object.entries(meta.props).map(([key, value]) => onnx.StringStringEntryProto.create({ key, value })),
      graph,
    });
    return onnx.ModelProto.encode(model).finish();
  }
}

function valueInfo(name: string, elem: keyof typeof ELEM, dims: (number | string)[]) {
  return onnx.ValueInfoProto.create({
    name,
    type: onnx.TypeProto.create({
      tensorType: onnx.TypeProto.Tensor.create({
        elemType: ELEM[elem],
        shape: onnx.TensorShapeProto.create({
          dim: dims.map((d) => onnx.TensorShapeProto.Dimension.create(typeof d === 'number' ? { dimValue: d } : { dimParam: d })),
        }),
      }),
    }),
  });
}

/** Reads a ModelProto back (tests, diffs). */
export function decodeOnnx(bytes: Uint8Array) {
  return onnx.ModelProto.decode(bytes);
}
