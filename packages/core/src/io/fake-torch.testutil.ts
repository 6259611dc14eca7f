/**
 * Test helper: emit the pickle that `torch.save` writes for a state dict
 * (protocol 2, OrderedDict, `_rebuild_tensor_v2`, persistent storage ids),
 * so the reader can be tested on strides, offsets, shared storages and
 * dtypes without Python. Mirrors the opcodes of torch/serialization.py.
 */
import { writeZipStored } from "./zip-write.js";

export interface FakeTensor {
  storage: string; // storage key
  storageType: string; // e.g. "FloatStorage"
  storageNumel: number;
  offset: number;
  shape: number[];
  stride: number[];
}

class Emitter {
  bytes: number[] = [];
  op(...b: number[]) {
    this.bytes.push(...b);
  }
  str(s: string) {
    const e = new TextEncoder().encode(s);
    this.op(0x58, e.length & 255, (e.length >> 8) & 255, 0, 0, ...e);
  }
  int(n: number) {
    this.op(0x4a, n & 255, (n >> 8) & 255, (n >> 16) & 255, (n >>> 24) & 255);
  }
  global(mod: string, name: string) {
    this.op(0x63, ...new TextEncoder().encode(`${mod}\n${name}\n`));
  }
  tuple(items: (() => void)[]) {
    this.op(0x28);
    for (const f of items) f();
    this.op(0x74);
  }
}

export function torchStatePickle(tensors: [string, FakeTensor][], extra?: (e: Emitter) => void): Uint8Array {
  const e = new Emitter();
  e.op(0x80, 2);
  e.global("collections", "OrderedDict");
  e.op(0x29, 0x52); // EMPTY_TUPLE, REDUCE
  e.op(0x28); // MARK for SETITEMS
  for (const [name, t] of tensors) {
    e.str(name);
    e.global("torch._utils", "_rebuild_tensor_v2");
    e.tuple([
      () => {
        e.tuple([() => e.str("storage"), () => e.global("torch", t.storageType), () => e.str(t.storage), () => e.str("cpu"), () => e.int(t.storageNumel)]);
        e.op(0x51); // BINPERSID
      },
      () => e.int(t.offset),
      () => e.tuple(t.shape.map((d) => () => e.int(d))),
      () => e.tuple(t.stride.map((d) => () => e.int(d))),
      () => e.op(0x89), // requires_grad False
      () => {
        e.global("collections", "OrderedDict");
        e.op(0x29, 0x52);
      },
    ]);
    e.op(0x52); // REDUCE
  }
  e.op(0x75); // SETITEMS
  extra?.(e);
  e.op(0x2e);
  return new Uint8Array(e.bytes);
}

export function torchZip(top: string, pickle: Uint8Array, storages: Record<string, Uint8Array>, byteorder = "little"): Uint8Array {
  const files: [string, Uint8Array][] = [[`${top}/data.pkl`, pickle], [`${top}/byteorder`, new TextEncoder().encode(byteorder)]];
  for (const [k, v] of Object.entries(storages)) files.push([`${top}/data/${k}`, v]);
  files.push([`${top}/version`, new TextEncoder().encode("3\n")]);
  return writeZipStored(files);
}

export function bytesOf(a: ArrayBufferView): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}
