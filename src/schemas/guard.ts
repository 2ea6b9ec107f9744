/**
 * A bounds check of an Avro binary body against its writer type, run before avsc decodes it.
 *
 * Why: avsc trusts the item count of an array or map block. A 6-byte body claiming 2^27 floats
 * makes it allocate and loop for seconds and grow the heap by a gigabyte; a few such records
 * would take the pipeline down. Here every block count is checked against the bytes left
 * (each item of our schemas takes at least one byte), and lengths, union branches and trailing
 * bytes are checked too, without allocating anything.
 */
import { isUtf8 } from 'node:buffer';
import type { Type } from 'avsc';

/** Thrown by {@link checkAvroBody} with what was wrong and where. */
export class AvroBoundsError extends Error {}

/**
 * Thrown by {@link checkAvroBody} for a string field whose bytes are not valid UTF-8 (avsc would
 * decode them to U+FFFD without a word); `field` is its path, e.g. `text` or `words[3].word`.
 */
export class AvroUtf8Error extends Error {
  constructor(
    readonly field: string,
    readonly byteOffset: number,
  ) {
    super(`${field || '(value)'} is not valid UTF-8 (the string's bytes start at byte ${byteOffset})`);
  }
}

interface TypeNode {
  typeName: string;
  fields?: { name: string; type: TypeNode }[];
  itemsType?: TypeNode;
  valuesType?: TypeNode;
  types?: TypeNode[];
  size?: number;
  underlyingType?: TypeNode;
}

class Cursor {
  pos: number;
  constructor(
    readonly buf: Buffer,
    start: number,
  ) {
    this.pos = start;
  }

  get left(): number {
    return this.buf.length - this.pos;
  }

  advance(n: number, what: string): void {
    if (n > this.left) throw new AvroBoundsError(`${what} needs ${n} bytes at byte ${this.pos}, only ${this.left} left`);
    this.pos += n;
  }

  /** A zig-zag varint long; precision beyond 2^53 does not matter for bounds checks. */
  long(what: string): number {
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.buf.length) throw new AvroBoundsError(`${what}: varint runs past the end at byte ${this.pos}`);
      const b = this.buf[this.pos++]!;
      result += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) return result % 2 === 0 ? result / 2 : -(result + 1) / 2;
      scale *= 128;
    }
    throw new AvroBoundsError(`${what}: varint longer than 10 bytes at byte ${this.pos}`);
  }
}

function skip(type: TypeNode, c: Cursor, path: string): void {
  switch (type.typeName) {
    case 'null':
      return;
    case 'boolean':
      return c.advance(1, path);
    case 'int':
    case 'long':
      c.long(path);
      return;
    case 'enum':
      c.long(path);
      return;
    case 'float':
      return c.advance(4, path);
    case 'double':
      return c.advance(8, path);
    case 'fixed':
      return c.advance(type.size ?? 0, path);
    case 'bytes': {
      const len = c.long(path);
      if (len < 0) throw new AvroBoundsError(`${path}: negative length ${len}`);
      return c.advance(len, path);
    }
    case 'string': {
      const len = c.long(path);
      if (len < 0) throw new AvroBoundsError(`${path}: negative length ${len}`);
      const start = c.pos;
      c.advance(len, path);
      // Strict UTF-8 (no overlongs, no surrogates), checked natively without copying.
      if (!isUtf8(c.buf.subarray(start, start + len))) throw new AvroUtf8Error(path, start);
      return;
    }
    case 'record':
    case 'error':
      for (const field of type.fields ?? []) skip(field.type, c, path ? `${path}.${field.name}` : field.name);
      return;
    case 'array':
      return skipBlocks(c, path, (i) => skip(type.itemsType!, c, `${path}[${i}]`), type.itemsType!.typeName === 'null');
    case 'map':
      return skipBlocks(
        c,
        path,
        (i) => {
          skip({ typeName: 'string' }, c, `${path}{key ${i}}`);
          skip(type.valuesType!, c, `${path}{value ${i}}`);
        },
        false,
      );
    default:
      if (type.typeName.startsWith('union:')) {
        const index = c.long(path);
        const branch = type.types?.[index];
        if (!branch) throw new AvroBoundsError(`${path}: union branch ${index} does not exist (${type.types?.length ?? 0} branches)`);
        return skip(branch, c, path);
      }
      if (type.typeName.startsWith('logical:') && type.underlyingType) return skip(type.underlyingType, c, path);
      throw new AvroBoundsError(`${path}: unsupported Avro type ${type.typeName}`);
  }
}

function skipBlocks(c: Cursor, path: string, item: (i: number) => void, zeroSizedItems: boolean): void {
  let i = 0;
  for (;;) {
    let n = c.long(`${path} block count`);
    if (n === 0) return;
    if (n < 0) {
      n = -n;
      c.long(`${path} block size`);
    }
    // Every item takes at least one byte unless the item type is null.
    if (!zeroSizedItems && n > c.left) {
      throw new AvroBoundsError(`${path}: block claims ${n} items but only ${c.left} bytes are left`);
    }
    if (zeroSizedItems && n > 1_000_000) throw new AvroBoundsError(`${path}: block claims ${n} null items`);
    for (let k = 0; k < n; k++) item(i++);
  }
}

/**
 * Checks that `buf[start..]` is exactly one value of `type`: lengths and block counts fit,
 * union branches exist, every string (map keys too) is valid UTF-8, nothing trails. Throws
 * {@link AvroBoundsError}, or {@link AvroUtf8Error} naming the field, otherwise.
 */
export function checkAvroBody(type: Type, buf: Buffer, start = 0): void {
  const c = new Cursor(buf, start);
  skip(type as unknown as TypeNode, c, '');
  if (c.pos !== buf.length) throw new AvroBoundsError(`${buf.length - c.pos} trailing bytes after the record`);
}
