import { open } from 'node:fs/promises';

/**
 * The model-level fields of an ONNX file (ModelProto), read without loading the graph.
 *
 * ONNX Runtime's JavaScript API does not expose ModelProto's metadata_props, yet the exporter
 * writes the model's identity there (and the test graph says it is one). The protobuf wire
 * format is simple enough to walk the top-level fields and skip the graph by its length, so a
 * large model costs a few small reads, not a second parse.
 */
export interface OnnxModelMetadata {
  irVersion: number;
  producerName: string;
  producerVersion: string;
  domain: string;
  modelVersion: number;
  docString: string;
  /** Operator sets by domain ('' is the default ONNX domain). */
  opsets: Record<string, number>;
  /** ModelProto.metadata_props as a map. */
  props: Record<string, string>;
}

// ModelProto field numbers (onnx/onnx.proto).
const IR_VERSION = 1;
const PRODUCER_NAME = 2;
const PRODUCER_VERSION = 3;
const DOMAIN = 4;
const MODEL_VERSION = 5;
const DOC_STRING = 6;
const OPSET_IMPORT = 8;
const METADATA_PROPS = 14;
const KEPT_FIELDS = new Set([PRODUCER_NAME, PRODUCER_VERSION, DOMAIN, DOC_STRING, OPSET_IMPORT, METADATA_PROPS]);

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_BYTES = 2;
const WIRE_FIXED32 = 5;

export async function readOnnxMetadata(path: string): Promise<OnnxModelMetadata> {
  const meta: OnnxModelMetadata = {
    irVersion: 0,
    producerName: '',
    producerVersion: '',
    domain: '',
    modelVersion: 0,
    docString: '',
    opsets: {},
    props: {},
  };
  const file = await open(path, 'r');
  try {
    const { size } = await file.stat();
    const head = Buffer.alloc(20); // a tag and a length varint fit in 20 bytes
    let pos = 0;
    while (pos < size) {
      const { bytesRead } = await file.read(head, 0, head.length, pos);
      const r = new WireReader(head.subarray(0, bytesRead), path, pos);
      const tag = r.varint();
      const field = Math.floor(tag / 8);
      const wire = tag % 8;
      if (wire === WIRE_VARINT) {
        const v = r.varint();
        if (field === IR_VERSION) meta.irVersion = v;
        if (field === MODEL_VERSION) meta.modelVersion = v;
        pos += r.pos;
      } else if (wire === WIRE_BYTES) {
        const length = r.varint();
        const start = pos + r.pos;
        if (start + length > size) throw new Error(`${path}: not an ONNX model (field ${field} at byte ${pos} runs past the end of the file)`);
        if (KEPT_FIELDS.has(field)) {
          const body = Buffer.alloc(length);
          await file.read(body, 0, length, start);
          keepField(meta, field, body, path, start);
        }
        pos = start + length;
      } else if (wire === WIRE_FIXED64) {
        pos += r.pos + 8;
      } else if (wire === WIRE_FIXED32) {
        pos += r.pos + 4;
      } else {
        throw new Error(`${path}: not an ONNX model (wire type ${wire} at byte ${pos})`);
      }
    }
  } finally {
    await file.close();
  }
  return meta;
}

function keepField(meta: OnnxModelMetadata, field: number, body: Buffer, path: string, at: number): void {
  const text = () => body.toString('utf8');
  switch (field) {
    case PRODUCER_NAME:
      meta.producerName = text();
      break;
    case PRODUCER_VERSION:
      meta.producerVersion = text();
      break;
    case DOMAIN:
      meta.domain = text();
      break;
    case DOC_STRING:
      meta.docString = text();
      break;
    case OPSET_IMPORT: {
      // OperatorSetIdProto: domain = 1, version = 2
      const m = readMessage(body, path, at);
      meta.opsets[m.strings.get(1) ?? ''] = m.varints.get(2) ?? 0;
      break;
    }
    case METADATA_PROPS: {
      // StringStringEntryProto: key = 1, value = 2
      const m = readMessage(body, path, at);
      meta.props[m.strings.get(1) ?? ''] = m.strings.get(2) ?? '';
      break;
    }
  }
}

/** The scalar fields of a small message (last value wins, as protobuf decoders do). */
function readMessage(body: Buffer, path: string, at: number): { strings: Map<number, string>; varints: Map<number, number> } {
  const strings = new Map<number, string>();
  const varints = new Map<number, number>();
  const r = new WireReader(body, path, at);
  while (r.pos < body.length) {
    const tag = r.varint();
    const field = Math.floor(tag / 8);
    switch (tag % 8) {
      case WIRE_VARINT:
        varints.set(field, r.varint());
        break;
      case WIRE_BYTES: {
        const n = r.varint();
        strings.set(field, r.bytes(n).toString('utf8'));
        break;
      }
      case WIRE_FIXED64:
        r.bytes(8);
        break;
      case WIRE_FIXED32:
        r.bytes(4);
        break;
      default:
        throw new Error(`${path}: not an ONNX model (wire type ${tag % 8} at byte ${at + r.pos})`);
    }
  }
  return { strings, varints };
}

class WireReader {
  pos = 0;
  constructor(
    private readonly buf: Buffer,
    private readonly path: string,
    private readonly at: number,
  ) {}

  /** An unsigned varint as a number (exact up to 2^53, plenty for ONNX's sizes and versions). */
  varint(): number {
    let value = 0;
    let scale = 1;
    for (;;) {
      if (this.pos >= this.buf.length) throw new Error(`${this.path}: not an ONNX model (truncated varint at byte ${this.at + this.pos})`);
      const byte = this.buf[this.pos++] as number;
      value += (byte & 0x7f) * scale;
      if (byte < 0x80) return value;
      scale *= 128;
      if (scale > 2 ** 63) throw new Error(`${this.path}: not an ONNX model (varint too long at byte ${this.at + this.pos})`);
    }
  }

  bytes(n: number): Buffer {
    if (this.pos + n > this.buf.length) throw new Error(`${this.path}: not an ONNX model (field runs past its message at byte ${this.at + this.pos})`);
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
}
