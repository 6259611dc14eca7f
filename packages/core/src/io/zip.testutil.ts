/**
 * Test helper: build zip archives byte by byte, with any field of any
 * header overridden, so that the reader can be tested on hostile and
 * corrupted archives (and on deflated and data-descriptor entries, which
 * `writeZipStored` does not write).
 */
import { crc32 } from "./zip-write.js";

export interface EntrySpec {
  name: string;
  /** The entry's content (uncompressed). */
  data: Uint8Array;
  /** The bytes stored in the archive; default `data` (stored) — pass deflated bytes with method 8. */
  stored?: Uint8Array;
  method?: number;
  /** Write flag bit 3: zeros in the local header, a data descriptor after the data. */
  descriptor?: boolean;
  /** Overrides of the central directory record. */
  cd?: Partial<{ name: string; flags: number; method: number; crc: number; size: number; csize: number; offset: number; disk: number; extra: Uint8Array }>;
  /** Overrides of the local header. */
  local?: Partial<{ name: string; flags: number; method: number; crc: number; size: number; csize: number; extra: Uint8Array }>;
}

export interface ZipLayout {
  bytes: Uint8Array;
  /** Per entry: offset of its local header and of its data. */
  offsets: { header: number; data: number }[];
  cdOffset: number;
  cdSize: number;
  eocdOffset: number;
}

export interface ArchiveOptions {
  /** Overrides of the end-of-central-directory record. */
  eocd?: Partial<{ count: number; countOnDisk: number; cdSize: number; cdOffset: number; disk: number }>;
  /** Extra central directory records (raw), appended after the generated ones. */
  extraCd?: Uint8Array;
  /** Write a ZIP64 end record and locator (with these overrides) and 0xffff / 0xffffffff in the classic record. */
  zip64?: Partial<{ count: number; cdSize: number; cdOffset: number; recordOffset: number }>;
}

const enc = new TextEncoder();

export function buildZip(specs: EntrySpec[], opts: ArchiveOptions = {}): ZipLayout {
  const parts: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  const offsets: { header: number; data: number }[] = [];
  let offset = 0;
  for (const s of specs) {
    const method = s.method ?? 0;
    const stored = s.stored ?? s.data;
    const crc = crc32(s.data);
    const flags = (s.descriptor ? 8 : 0) | 0x800;
    const lname = enc.encode(s.local?.name ?? s.name);
    const lextra = s.local?.extra ?? new Uint8Array(0);
    const local = new Uint8Array(30 + lname.length + lextra.length);
    const lv = new DataView(local.buffer);
    lv.setUint32(0, 0x04034b50, true);
    lv.setUint16(4, 20, true);
    lv.setUint16(6, s.local?.flags ?? flags, true);
    lv.setUint16(8, s.local?.method ?? method, true);
    lv.setUint32(14, s.local?.crc ?? (s.descriptor ? 0 : crc), true);
    lv.setUint32(18, s.local?.csize ?? (s.descriptor ? 0 : stored.length), true);
    lv.setUint32(22, s.local?.size ?? (s.descriptor ? 0 : s.data.length), true);
    lv.setUint16(26, lname.length, true);
    lv.setUint16(28, lextra.length, true);
    local.set(lname, 30);
    local.set(lextra, 30 + lname.length);
    offsets.push({ header: offset, data: offset + local.length });
    parts.push(local, stored);
    let len = local.length + stored.length;
    if (s.descriptor) {
      const dd = new Uint8Array(16);
      const dv = new DataView(dd.buffer);
      dv.setUint32(0, 0x08074b50, true);
      dv.setUint32(4, crc, true);
      dv.setUint32(8, stored.length, true);
      dv.setUint32(12, s.data.length, true);
      parts.push(dd);
      len += 16;
    }
    const cname = enc.encode(s.cd?.name ?? s.name);
    const cextra = s.cd?.extra ?? new Uint8Array(0);
    const cd = new Uint8Array(46 + cname.length + cextra.length);
    const cv = new DataView(cd.buffer);
    cv.setUint32(0, 0x02014b50, true);
    cv.setUint16(4, 20, true);
    cv.setUint16(6, 20, true);
    cv.setUint16(8, s.cd?.flags ?? flags, true);
    cv.setUint16(10, s.cd?.method ?? method, true);
    cv.setUint32(16, s.cd?.crc ?? crc, true);
    cv.setUint32(20, s.cd?.csize ?? stored.length, true);
    cv.setUint32(24, s.cd?.size ?? s.data.length, true);
    cv.setUint16(28, cname.length, true);
    cv.setUint16(30, cextra.length, true);
    cv.setUint16(34, s.cd?.disk ?? 0, true);
    cv.setUint32(42, s.cd?.offset ?? offset, true);
    cd.set(cname, 46);
    cd.set(cextra, 46 + cname.length);
    central.push(cd);
    offset += len;
  }
  if (opts.extraCd) central.push(opts.extraCd);
  const cdOffset = offset;
  const cdSize = central.reduce((n, c) => n + c.length, 0);
  const tail: Uint8Array[] = [];
  const eocd = new Uint8Array(22);
  const ev = new DataView(eocd.buffer);
  ev.setUint32(0, 0x06054b50, true);
  ev.setUint16(4, opts.eocd?.disk ?? 0, true);
  if (opts.zip64) {
    const rec = new Uint8Array(56);
    const rv = new DataView(rec.buffer);
    rv.setUint32(0, 0x06064b50, true);
    rv.setBigUint64(4, 44n, true);
    rv.setUint16(12, 45, true);
    rv.setUint16(14, 45, true);
    rv.setBigUint64(24, BigInt(opts.zip64.count ?? specs.length), true);
    rv.setBigUint64(32, BigInt(opts.zip64.count ?? specs.length), true);
    rv.setBigUint64(40, BigInt(opts.zip64.cdSize ?? cdSize), true);
    rv.setBigUint64(48, BigInt(opts.zip64.cdOffset ?? cdOffset), true);
    const loc = new Uint8Array(20);
    const locv = new DataView(loc.buffer);
    locv.setUint32(0, 0x07064b50, true);
    locv.setBigUint64(8, BigInt(opts.zip64.recordOffset ?? cdOffset + cdSize), true);
    locv.setUint32(16, 1, true);
    tail.push(rec, loc);
    ev.setUint16(8, 0xffff, true);
    ev.setUint16(10, 0xffff, true);
    ev.setUint32(12, 0xffffffff, true);
    ev.setUint32(16, 0xffffffff, true);
  } else {
    ev.setUint16(8, opts.eocd?.countOnDisk ?? opts.eocd?.count ?? specs.length, true);
    ev.setUint16(10, opts.eocd?.count ?? specs.length, true);
    ev.setUint32(12, opts.eocd?.cdSize ?? cdSize, true);
    ev.setUint32(16, opts.eocd?.cdOffset ?? cdOffset, true);
  }
  tail.push(eocd);
  const all = [...parts, ...central, ...tail];
  const bytes = new Uint8Array(all.reduce((n, p) => n + p.length, 0));
  let p = 0;
  for (const x of all) {
    bytes.set(x, p);
    p += x.length;
  }
  return { bytes, offsets, cdOffset, cdSize, eocdOffset: bytes.length - 22 };
}

/** A ZIP64 extended-information extra field (id 0x0001) holding these 64-bit values in order. */
export function zip64Extra(...values: number[]): Uint8Array {
  const b = new Uint8Array(4 + 8 * values.length);
  const v = new DataView(b.buffer);
  v.setUint16(0, 1, true);
  v.setUint16(2, 8 * values.length, true);
  for (let i = 0; i < values.length; i++) v.setBigUint64(4 + 8 * i, BigInt(values[i]), true);
  return b;
}

/** An extra field with any id and payload; `declared` overrides its length field. */
export function extraField(id: number, payload: Uint8Array, declared = payload.length): Uint8Array {
  const b = new Uint8Array(4 + payload.length);
  const v = new DataView(b.buffer);
  v.setUint16(0, id, true);
  v.setUint16(2, declared, true);
  b.set(payload, 4);
  return b;
}

/** Raw deflate with the platform's CompressionStream. */
export async function deflateRaw(data: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([data as BlobPart]).stream().pipeThrough(new CompressionStream("deflate-raw"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}
