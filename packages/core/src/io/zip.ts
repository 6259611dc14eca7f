/**
 * A minimal random-access ZIP reader: central directory (with ZIP64, needed
 * for the 8 GB d30 checkpoint), stored and deflated entries. `torch.save`
 * writes stored (uncompressed) entries aligned to 64 bytes, so a tensor is
 * one positioned read. Why not a library: the maintained JS zip readers
 * either read the whole archive into memory (jszip, fflate) or only work on
 * Node file descriptors (yauzl); we need one reader over files, Blobs and
 * HTTP ranges alike, and the format subset is small.
 */
import { type ByteSource, CheckpointFormatError } from "./source.js";

export interface ZipEntry {
  name: string;
  method: number; // 0 stored, 8 deflate
  compressedSize: number;
  size: number;
  localHeaderOffset: number;
  crc32: number;
}

const EOCD_SIG = 0x06054b50;
const ZIP64_EOCD_LOCATOR_SIG = 0x07064b50;
const ZIP64_EOCD_SIG = 0x06064b50;
const CDIR_SIG = 0x02014b50;
const LOCAL_SIG = 0x04034b50;

const u64 = (dv: DataView, o: number): number => {
  const v = dv.getBigUint64(o, true);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new CheckpointFormatError("zip: 64-bit field out of range");
  return Number(v);
};

export class ZipReader {
  private constructor(
    readonly source: ByteSource,
    readonly entries: Map<string, ZipEntry>,
  ) {}

  static async open(source: ByteSource): Promise<ZipReader> {
    const name = source.name;
    if (source.size < 22) throw new CheckpointFormatError(`${name}: too small to be a zip archive (${source.size} bytes)`);
    // The end-of-central-directory record sits in the last 22 + 65535 bytes.
    const tailLen = Math.min(source.size, 22 + 0xffff);
    const tailStart = source.size - tailLen;
    const tail = await source.read(tailStart, tailLen);
    const tdv = new DataView(tail.buffer, tail.byteOffset, tail.byteLength);
    let eocd = -1;
    for (let i = tailLen - 22; i >= 0; i--) {
      if (tdv.getUint32(i, true) === EOCD_SIG) {
        eocd = i;
        break;
      }
    }
    if (eocd < 0) throw new CheckpointFormatError(`${name}: not a zip archive or truncated (no end-of-central-directory record)`);
    let count = tdv.getUint16(eocd + 10, true);
    let cdSize = tdv.getUint32(eocd + 12, true);
    let cdOffset = tdv.getUint32(eocd + 16, true);
    if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
      const loc = eocd - 20;
      if (loc < 0 || tdv.getUint32(loc, true) !== ZIP64_EOCD_LOCATOR_SIG) {
        throw new CheckpointFormatError(`${name}: zip64 locator missing`);
      }
      const z64Off = u64(tdv, loc + 8);
      const z = await source.read(z64Off, 56);
      const zdv = new DataView(z.buffer, z.byteOffset, 56);
      if (zdv.getUint32(0, true) !== ZIP64_EOCD_SIG) throw new CheckpointFormatError(`${name}: bad zip64 end record`);
      count = u64(zdv, 32);
      cdSize = u64(zdv, 40);
      cdOffset = u64(zdv, 48);
    }
    if (cdOffset + cdSize > source.size) {
      throw new CheckpointFormatError(`${name}: zip central directory lies beyond the end of the file (truncated?)`);
    }
    const cd = await source.read(cdOffset, cdSize);
    const dv = new DataView(cd.buffer, cd.byteOffset, cd.byteLength);
    const dec = new TextDecoder();
    const entries = new Map<string, ZipEntry>();
    let p = 0;
    for (let i = 0; i < count; i++) {
      if (p + 46 > cdSize || dv.getUint32(p, true) !== CDIR_SIG) {
        throw new CheckpointFormatError(`${name}: corrupt zip central directory (entry ${i})`);
      }
      const method = dv.getUint16(p + 10, true);
      const crc32 = dv.getUint32(p + 16, true);
      let compressedSize = dv.getUint32(p + 20, true);
      let size = dv.getUint32(p + 24, true);
      const nameLen = dv.getUint16(p + 28, true);
      const extraLen = dv.getUint16(p + 30, true);
      const commentLen = dv.getUint16(p + 32, true);
      let localHeaderOffset = dv.getUint32(p + 42, true);
      if (p + 46 + nameLen + extraLen > cdSize) throw new CheckpointFormatError(`${name}: corrupt zip entry ${i}`);
      const entryName = dec.decode(cd.subarray(p + 46, p + 46 + nameLen));
      // ZIP64 extended information: present fields replace the 0xffffffff ones, in order.
      let e = p + 46 + nameLen;
      const eEnd = e + extraLen;
      while (e + 4 <= eEnd) {
        const id = dv.getUint16(e, true);
        const len = dv.getUint16(e + 2, true);
        if (id === 0x0001) {
          let q = e + 4;
          if (size === 0xffffffff) {
            size = u64(dv, q);
            q += 8;
          }
          if (compressedSize === 0xffffffff) {
            compressedSize = u64(dv, q);
            q += 8;
          }
          if (localHeaderOffset === 0xffffffff) localHeaderOffset = u64(dv, q);
        }
        e += 4 + len;
      }
      if (method !== 0 && method !== 8) {
        throw new CheckpointFormatError(`${name}: zip entry ${entryName} uses unsupported compression method ${method}`);
      }
      entries.set(entryName, { name: entryName, method, compressedSize, size, localHeaderOffset, crc32 });
      p += 46 + nameLen + extraLen + commentLen;
    }
    return new ZipReader(source, entries);
  }

  /** Byte offset of an entry's data (after its local header). */
  async dataOffset(entry: ZipEntry): Promise<number> {
    const h = await this.source.read(entry.localHeaderOffset, 30);
    const dv = new DataView(h.buffer, h.byteOffset, 30);
    if (dv.getUint32(0, true) !== LOCAL_SIG) {
      throw new CheckpointFormatError(`${this.source.name}: corrupt local header for ${entry.name}`);
    }
    const start = entry.localHeaderOffset + 30 + dv.getUint16(26, true) + dv.getUint16(28, true);
    if (start + entry.compressedSize > this.source.size) {
      throw new CheckpointFormatError(`${this.source.name}: entry ${entry.name} runs past the end of the file (truncated?)`);
    }
    return start;
  }

  /** Read `length` bytes at `offset` within a stored entry (lazy tensor reads). */
  async readRange(entry: ZipEntry, offset: number, length: number): Promise<Uint8Array> {
    if (entry.method !== 0) {
      const all = await this.read(entry);
      return all.subarray(offset, offset + length);
    }
    if (offset + length > entry.size) {
      throw new CheckpointFormatError(`${this.source.name}: read past the end of ${entry.name}`);
    }
    return this.source.read((await this.dataOffset(entry)) + offset, length);
  }

  /** Read a whole entry, inflating it when deflated. */
  async read(entry: ZipEntry): Promise<Uint8Array> {
    const raw = await this.source.read(await this.dataOffset(entry), entry.compressedSize);
    if (entry.method === 0) return raw;
    const out = await inflateRaw(raw);
    if (out.byteLength !== entry.size) {
      throw new CheckpointFormatError(`${this.source.name}: ${entry.name} inflated to ${out.byteLength} bytes, expected ${entry.size}`);
    }
    return out;
  }
}

async function inflateRaw(data: Uint8Array): Promise<Uint8Array> {
  try {
    const ds = new DecompressionStream("deflate-raw");
    const stream = new Blob([data as BlobPart]).stream().pipeThrough(ds);
    return new Uint8Array(await new Response(stream).arrayBuffer());
  } catch (e) {
    throw new CheckpointFormatError(`zip: corrupt deflate data (${(e as Error).message})`);
  }
}
