/**
 * A minimal random-access ZIP reader: central directory (with ZIP64, needed
 * for the 8 GB d30 checkpoint), stored and deflated entries. `torch.save`
 * writes stored (uncompressed) entries aligned to 64 bytes, so a tensor is
 * one positioned read. Why not a library: the maintained JS zip readers
 * either read the whole archive into memory (jszip, fflate) or only work on
 * Node file descriptors (yauzl); we need one reader over files, Blobs and
 * HTTP ranges alike, and the format subset is small.
 *
 * Hostile archives. Opening validates the end records and the whole central
 * directory: exact safe-integer counts, sizes and offsets inside the file,
 * an entry count the directory's size can hold, bounds-checked extra fields
 * (ZIP64 included), no duplicate names, no encrypted or split archives, no
 * two entries whose byte ranges overlap and none overlapping the central
 * directory, a stored entry's two sizes equal, a deflated entry's declared
 * size within what deflate can produce from its compressed size. An entry's
 * local header is checked against the central directory when the entry is
 * first read (name, method, flags, and CRC and sizes unless flag bit 3 puts
 * them in a data descriptor after the data, as `torch.save` does), and so is
 * its data's end against the next entry. Reads check the CRC-32 of every
 * entry read whole; deflated data is inflated as a stream and abandoned as
 * soon as it passes the declared size (a decompression bomb costs at most
 * that size), and an entry that ends short is an error too.
 *
 * What cannot be verified: a CRC covers a whole entry, so `readRange` on a
 * large stored entry (a range under half of it, entry over 1 MiB) returns
 * bytes nobody has checked; `stats.unverifiedReads` counts those reads (a
 * reader that must check every byte reads whole entries with `read`, as the
 * torch reader does with each storage). The CRC detects corruption, not
 * tampering: anyone who can edit the file can fix up the CRC too. Fields no
 * reader needs (times, versions, attributes, comments) are not checked.
 */
import { type ByteSource, CheckpointFormatError, quoted } from "./source.js";
import { crc32 } from "./zip-write.js";

export interface ZipEntry {
  name: string;
  method: number; // 0 stored, 8 deflate
  compressedSize: number;
  size: number;
  localHeaderOffset: number;
  crc32: number;
  /** General-purpose flags: bit 3, sizes and CRC in a data descriptor after the data; bit 11, a UTF-8 name. */
  flags: number;
}

/** What the reader knows of an entry beyond `ZipEntry` (kept apart, so a caller cannot change it). */
interface Layout {
  entry: ZipEntry;
  nameBytes: Uint8Array;
  /** Where the next entry's local header, or the central directory, begins: this entry must end before it. */
  limit: number;
  /** Offset of the data, once the local header has been read and checked. */
  dataStart?: number;
}

export interface ZipReadStats {
  /** Reads whose bytes were checked against the entry's CRC-32. */
  verifiedReads: number;
  /** `readRange` reads of part of a large stored entry (or of a deflated entry's start): not checked. */
  unverifiedReads: number;
}

const EOCD_SIG = 0x06054b50;
const ZIP64_EOCD_LOCATOR_SIG = 0x07064b50;
const ZIP64_EOCD_SIG = 0x06064b50;
const CDIR_SIG = 0x02014b50;
const LOCAL_SIG = 0x04034b50;
const CDIR_MIN = 46;
const LOCAL_MIN = 30;
/** Smallest data descriptor (CRC and two 32-bit sizes, no signature). */
const DESCRIPTOR_MIN = 12;
/**
 * Entries that inflate to more than this many times their compressed size
 * (beyond `INFLATE_ALLOWANCE`) are refused even when honest: a loader's
 * memory may grow with the file's size, not past a small multiple of it.
 * Weights compress about 1.1:1, images 2–3:1; only long runs of one value
 * compress further.
 */
const MAX_INFLATE_RATIO = 32;
const INFLATE_ALLOWANCE = 16 << 20;
/** Deflate cannot expand more than 1032:1 (a 258-byte match per two bits); the slack covers tiny streams. */
const MAX_DEFLATE_RATIO = 1032;
const DEFLATE_SLACK = 1024;
/** Stored entries up to this size are read whole by `readRange`, so that their CRC is checked. */
const VERIFY_WHOLE_BELOW = 1 << 20;
/** Compressed bytes handed to the inflater per step: bounds what one step can emit (≤ 1032× this). */
const INFLATE_STEP = 16 << 10;


const hex32 = (n: number) => `0x${(n >>> 0).toString(16).padStart(8, "0")}`;

export class ZipReader {
  private readonly layouts = new Map<ZipEntry, Layout>();
  /** How many reads were checked against a CRC-32, and how many could not be. */
  readonly stats: ZipReadStats = { verifiedReads: 0, unverifiedReads: 0 };

  private constructor(
    readonly source: ByteSource,
    readonly entries: Map<string, ZipEntry>,
    layouts: Layout[],
  ) {
    for (const l of layouts) this.layouts.set(l.entry, l);
  }

  static async open(source: ByteSource): Promise<ZipReader> {
    const file = source.name;
    const fail = (msg: string) => new CheckpointFormatError(`${file}: ${msg}`);
    const fileSize = source.size;
    if (!Number.isSafeInteger(fileSize) || fileSize < 22) throw fail(`too small to be a zip archive (${fileSize} bytes)`);
    // The end-of-central-directory record sits in the last 22 + 65535 bytes.
    const tailLen = Math.min(fileSize, 22 + 0xffff);
    const tailStart = fileSize - tailLen;
    const tail = await source.read(tailStart, tailLen);
    const tdv = new DataView(tail.buffer, tail.byteOffset, tail.byteLength);
    // The last signature wins, as in Python's zipfile (a comment could hold another).
    let eocd = -1;
    for (let i = tailLen - 22; i >= 0; i--) {
      if (tdv.getUint32(i, true) === EOCD_SIG) {
        eocd = i;
        break;
      }
    }
    if (eocd < 0) throw fail("not a zip archive or truncated (no end-of-central-directory record)");
    if (eocd + 22 + tdv.getUint16(eocd + 20, true) > tailLen) {
      throw fail("zip end-of-central-directory comment runs past the end of the file (truncated or corrupt)");
    }
    const eocdAt = tailStart + eocd;
    let disk = tdv.getUint16(eocd + 4, true);
    let cdDisk = tdv.getUint16(eocd + 6, true);
    let countOnDisk = tdv.getUint16(eocd + 8, true);
    let count = tdv.getUint16(eocd + 10, true);
    let cdSize = tdv.getUint32(eocd + 12, true);
    let cdOffset = tdv.getUint32(eocd + 16, true);
    // The central directory must end before the record that points at it.
    let cdEndLimit = eocdAt;
    if (count === 0xffff || countOnDisk === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff || disk === 0xffff || cdDisk === 0xffff) {
      const locAt = eocdAt - 20;
      if (locAt < 0) throw fail("zip64 end-of-central-directory locator missing (truncated or corrupt)");
      const loc = await source.read(locAt, 20);
      const ldv = new DataView(loc.buffer, loc.byteOffset, 20);
      if (ldv.getUint32(0, true) !== ZIP64_EOCD_LOCATOR_SIG) throw fail("zip64 end-of-central-directory locator missing (truncated or corrupt)");
      const z64At = u64(ldv, 8, fail, "zip64 end record offset");
      if (ldv.getUint32(4, true) !== 0 || ldv.getUint32(16, true) > 1) throw fail("multi-disk (split) zip archives are not supported");
      if (z64At + 56 > locAt) throw fail(`zip64 end record at offset ${z64At} does not lie before its locator at ${locAt} (corrupt)`);
      const z = await source.read(z64At, 56);
      const zdv = new DataView(z.buffer, z.byteOffset, 56);
      if (zdv.getUint32(0, true) !== ZIP64_EOCD_SIG) throw fail(`bad zip64 end record at offset ${z64At} (corrupt)`);
      disk = zdv.getUint32(16, true);
      cdDisk = zdv.getUint32(20, true);
      countOnDisk = u64(zdv, 24, fail, "zip64 entry count");
      count = u64(zdv, 32, fail, "zip64 entry count");
      cdSize = u64(zdv, 40, fail, "zip64 central directory size");
      cdOffset = u64(zdv, 48, fail, "zip64 central directory offset");
      cdEndLimit = z64At;
    }
    if (disk !== 0 || cdDisk !== 0 || countOnDisk !== count) throw fail("multi-disk (split) zip archives are not supported");
    if (cdOffset + cdSize > cdEndLimit) {
      throw fail(
        `zip central directory (${cdSize} bytes at offset ${cdOffset}) runs past its end record at ${cdEndLimit} (truncated or corrupt)`,
      );
    }
    if (count * CDIR_MIN > cdSize) {
      throw fail(`zip central directory claims ${count} entries, but its ${cdSize} bytes hold at most ${Math.floor(cdSize / CDIR_MIN)} (corrupt)`);
    }
    const cd = await source.read(cdOffset, cdSize);
    const dv = new DataView(cd.buffer, cd.byteOffset, cd.byteLength);
    const utf8 = new TextDecoder("utf-8", { fatal: true });
    const lenient = new TextDecoder("utf-8");
    const entries = new Map<string, ZipEntry>();
    const layouts: Layout[] = [];
    let p = 0;
    for (let i = 0; i < count; i++) {
      if (p + CDIR_MIN > cdSize || dv.getUint32(p, true) !== CDIR_SIG) {
        throw fail(`corrupt zip central directory (entry ${i} of ${count} at directory offset ${p})`);
      }
      const flags = dv.getUint16(p + 8, true);
      const method = dv.getUint16(p + 10, true);
      const crc = dv.getUint32(p + 16, true);
      let compressedSize = dv.getUint32(p + 20, true);
      let size = dv.getUint32(p + 24, true);
      const nameLen = dv.getUint16(p + 28, true);
      const extraLen = dv.getUint16(p + 30, true);
      const commentLen = dv.getUint16(p + 32, true);
      let diskStart = dv.getUint16(p + 34, true);
      let localHeaderOffset = dv.getUint32(p + 42, true);
      const next = p + CDIR_MIN + nameLen + extraLen + commentLen;
      if (next > cdSize) throw fail(`corrupt zip central directory (entry ${i} of ${count} runs past its end)`);
      const nameBytes = cd.slice(p + CDIR_MIN, p + CDIR_MIN + nameLen);
      let name: string;
      try {
        name = utf8.decode(nameBytes);
      } catch {
        name = lenient.decode(nameBytes);
      }
      const what = `zip entry ${quoted(name)}`;
      const bad = (msg: string) => fail(`${what}: ${msg}`);
      if (entries.has(name)) throw bad("appears twice in the central directory (duplicate name)");
      if (flags & 0x2041) throw bad("is encrypted (not supported)");
      if (method !== 0 && method !== 8) throw bad(`uses unsupported compression method ${method}`);
      // ZIP64 extended information: the fields present replace the 0xffffffff ones, in order.
      const z64 = readExtra(dv, p + CDIR_MIN + nameLen, extraLen, 0x0001, bad, "central directory");
      if (z64) {
        let q = z64.start;
        const need = 8 * (+(size === 0xffffffff) + +(compressedSize === 0xffffffff) + +(localHeaderOffset === 0xffffffff)) + 4 * +(diskStart === 0xffff);
        if (z64.length < need) throw bad(`ZIP64 extra field has ${z64.length} bytes, the fields it replaces need ${need} (corrupt)`);
        if (size === 0xffffffff) {
          size = u64(dv, q, bad, "ZIP64 size");
          q += 8;
        }
        if (compressedSize === 0xffffffff) {
          compressedSize = u64(dv, q, bad, "ZIP64 compressed size");
          q += 8;
        }
        if (localHeaderOffset === 0xffffffff) {
          localHeaderOffset = u64(dv, q, bad, "ZIP64 local header offset");
          q += 8;
        }
        if (diskStart === 0xffff) diskStart = dv.getUint32(q, true);
      } else if (size === 0xffffffff || compressedSize === 0xffffffff || localHeaderOffset === 0xffffffff) {
        throw bad("has a 32-bit size or offset of 0xffffffff but no ZIP64 extra field (corrupt)");
      }
      if (diskStart !== 0) throw bad("starts on another disk (split archives are not supported)");
      if (method === 0 && compressedSize !== size) throw bad(`is stored, yet its compressed size ${compressedSize} differs from its size ${size} (corrupt)`);
      if (method === 8 && size > MAX_DEFLATE_RATIO * compressedSize + DEFLATE_SLACK) {
        throw bad(`declares ${size} bytes, more than deflate can produce from its ${compressedSize} compressed bytes (corrupt)`);
      }
      if (method === 8 && size > MAX_INFLATE_RATIO * compressedSize + INFLATE_ALLOWANCE) {
        throw bad(
          `declares ${size} bytes from ${compressedSize} compressed bytes (${Math.round(size / Math.max(1, compressedSize))}:1): ` +
            `more than the ${MAX_INFLATE_RATIO}:1 (beyond ${INFLATE_ALLOWANCE >> 20} MiB) this reader inflates, so that a small file cannot take a large memory (weights compress about 1.1:1)`,
        );
      }
      if (localHeaderOffset + LOCAL_MIN + nameLen > cdOffset) {
        throw bad(`local header at offset ${localHeaderOffset} lies inside or past the central directory at ${cdOffset} (corrupt)`);
      }
      const entry: ZipEntry = { name, method, compressedSize, size, localHeaderOffset, crc32: crc, flags };
      entries.set(name, entry);
      layouts.push({ entry, nameBytes, limit: cdOffset });
      p = next;
    }
    if (p !== cdSize) throw fail(`zip central directory has ${cdSize - p} bytes after its ${count} entries (corrupt)`);
    // No two entries may share bytes (overlapping entries are how non-recursive zip bombs
    // reuse one compressed block), and none may reach into the central directory. Here with
    // the sizes the central directory gives; each entry's true end (its local extra field and
    // data descriptor) is checked against its limit when its local header is read.
    const byOffset = [...layouts].sort((a, b) => a.entry.localHeaderOffset - b.entry.localHeaderOffset);
    for (let i = 0; i < byOffset.length; i++) {
      const l = byOffset[i];
      const e = l.entry;
      const nextEntry = byOffset[i + 1]?.entry;
      l.limit = nextEntry ? nextEntry.localHeaderOffset : cdOffset;
      const minEnd = e.localHeaderOffset + LOCAL_MIN + l.nameBytes.length + e.compressedSize + (e.flags & 8 ? DESCRIPTOR_MIN : 0);
      if (minEnd > l.limit) {
        throw fail(
          nextEntry
            ? `zip entries ${quoted(e.name)} (offset ${e.localHeaderOffset}, ${e.compressedSize} bytes of data) and ${quoted(nextEntry.name)} (offset ${nextEntry.localHeaderOffset}) overlap (corrupt or a zip bomb)`
            : `zip entry ${quoted(e.name)} (offset ${e.localHeaderOffset}, ${e.compressedSize} bytes of data) overlaps the central directory at ${cdOffset} (corrupt or truncated)`,
        );
      }
    }
    return new ZipReader(source, entries, layouts);
  }

  private layout(entry: ZipEntry): Layout {
    const l = this.layouts.get(entry) ?? this.layouts.get(this.entries.get(entry.name) as ZipEntry);
    if (!l) throw new Error(`${this.source.name}: ${quoted(entry.name)} is not an entry of this zip reader`);
    return l;
  }

  private fail(l: Layout, msg: string): CheckpointFormatError {
    return new CheckpointFormatError(`${this.source.name}: zip entry ${quoted(l.entry.name)}: ${msg}`);
  }

  /** Byte offset of an entry's data (after its local header), checking that header against the central directory. */
  async dataOffset(entry: ZipEntry): Promise<number> {
    const l = this.layout(entry);
    if (l.dataStart !== undefined) return l.dataStart;
    const e = l.entry;
    const bad = (msg: string) => this.fail(l, msg);
    const at = e.localHeaderOffset;
    const nameLen = l.nameBytes.length;
    // The header and its name, and usually its extra field (torch's alignment padding is under 68 bytes) in the same read.
    const first = Math.min(LOCAL_MIN + nameLen + 128, l.limit - at);
    let h = await this.source.read(at, first);
    let dv = new DataView(h.buffer, h.byteOffset, h.byteLength);
    if (dv.getUint32(0, true) !== LOCAL_SIG) throw bad(`no local header at offset ${at} (corrupt)`);
    const flags = dv.getUint16(6, true);
    const method = dv.getUint16(8, true);
    const lcrc = dv.getUint32(14, true);
    const lcsize = dv.getUint32(18, true);
    const lsize = dv.getUint32(22, true);
    const lnameLen = dv.getUint16(26, true);
    const lextraLen = dv.getUint16(28, true);
    if (lnameLen !== nameLen || !sameBytes(h.subarray(LOCAL_MIN, LOCAL_MIN + nameLen), l.nameBytes)) {
      const got = new TextDecoder().decode(h.subarray(LOCAL_MIN, Math.min(h.length, LOCAL_MIN + lnameLen)));
      throw bad(`its local header names ${quoted(got)} (${lnameLen} bytes), unlike the central directory (corrupt)`);
    }
    if (method !== e.method) throw bad(`its local header says compression method ${method}, the central directory ${e.method} (corrupt)`);
    if ((flags ^ e.flags) & 0x2049) {
      throw bad(`its local header's flags 0x${flags.toString(16)} disagree with the central directory's 0x${e.flags.toString(16)} (corrupt)`);
    }
    const start = at + LOCAL_MIN + nameLen + lextraLen;
    const end = start + e.compressedSize;
    if (end + (e.flags & 8 ? DESCRIPTOR_MIN : 0) > l.limit) {
      throw bad(
        `its data (${e.compressedSize} bytes at offset ${start}${e.flags & 8 ? ", then a data descriptor" : ""}) runs into the next entry or the central directory at ${l.limit} (overlapping entries: corrupt or a zip bomb)`,
      );
    }
    if (LOCAL_MIN + nameLen + lextraLen > h.length) {
      h = await this.source.read(at, LOCAL_MIN + nameLen + lextraLen);
      dv = new DataView(h.buffer, h.byteOffset, h.byteLength);
    }
    if (e.flags & 8) {
      // Sizes and CRC follow the data; the local header holds zeros (or, from some writers, the values).
      readExtra(dv, LOCAL_MIN + nameLen, lextraLen, -1, bad, "local header");
      const ok = (v: number, want: number) => v === 0 || v === want || v === 0xffffffff;
      if (!(lcrc === 0 || lcrc === e.crc32) || !ok(lcsize, e.compressedSize) || !ok(lsize, e.size)) {
        throw bad(`its local header's CRC ${hex32(lcrc)} or sizes (${lsize}, ${lcsize} compressed) disagree with the central directory (corrupt)`);
      }
    } else {
      let size = lsize;
      let csize = lcsize;
      if (size === 0xffffffff || csize === 0xffffffff) {
        const z64 = readExtra(dv, LOCAL_MIN + nameLen, lextraLen, 0x0001, bad, "local header");
        const need = 8 * (+(size === 0xffffffff) + +(csize === 0xffffffff));
        if (!z64 || z64.length < need) throw bad(`its local header has a size of 0xffffffff but no complete ZIP64 extra field (corrupt)`);
        let q = z64.start;
        if (size === 0xffffffff) {
          size = u64(dv, q, bad, "local ZIP64 size");
          q += 8;
        }
        if (csize === 0xffffffff) csize = u64(dv, q, bad, "local ZIP64 compressed size");
      } else {
        readExtra(dv, LOCAL_MIN + nameLen, lextraLen, -1, bad, "local header");
      }
      if (lcrc !== e.crc32 || size !== e.size || csize !== e.compressedSize) {
        throw bad(
          `its local header (CRC ${hex32(lcrc)}, ${size} bytes, ${csize} compressed) disagrees with the central directory (CRC ${hex32(e.crc32)}, ${e.size} bytes, ${e.compressedSize} compressed) (corrupt)`,
        );
      }
    }
    l.dataStart = start;
    return start;
  }

  /**
   * Read `length` bytes at `offset` within an entry (lazy tensor reads).
   * The CRC is checked when the range is the whole entry, and also when the
   * entry is small (≤ 1 MiB) or the range at least half of it (the entry is
   * then read whole: at most twice the bytes asked for). Otherwise a stored
   * entry's range is read as is, unverified (counted in `stats`). A
   * deflated entry is inflated from its start up to the range's end (never
   * past the declared size), and on to its end, verified, under the same rule.
   */
  async readRange(entry: ZipEntry, offset: number, length: number): Promise<Uint8Array> {
    const l = this.layout(entry);
    const e = l.entry;
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > e.size) {
      throw this.fail(l, `read of ${length} bytes at offset ${offset} lies outside its ${e.size} bytes`);
    }
    if (offset === 0 && length === e.size) return this.read(entry);
    const verify = e.size <= VERIFY_WHOLE_BELOW || 2 * (e.method === 0 ? length : offset + length) >= e.size;
    if (e.method === 0) {
      if (verify) return pick(await this.read(entry), offset, length);
      this.stats.unverifiedReads++;
      return this.source.read((await this.dataOffset(entry)) + offset, length);
    }
    return this.inflate(l, offset, offset + length, verify);
  }

  /** Read a whole entry, inflating it when deflated, and check its size and CRC-32. */
  async read(entry: ZipEntry): Promise<Uint8Array> {
    const l = this.layout(entry);
    const e = l.entry;
    if (e.method !== 0) return this.inflate(l, 0, e.size, true);
    const data = await this.source.read(await this.dataOffset(entry), e.size);
    this.checkCrc(l, crc32(data));
    return data;
  }

  private checkCrc(l: Layout, got: number): void {
    if (got !== l.entry.crc32) {
      throw this.fail(l, `CRC-32 mismatch: its data has ${hex32(got)}, the archive records ${hex32(l.entry.crc32)} (corrupt file)`);
    }
    this.stats.verifiedReads++;
  }

  /**
   * Inflate a deflated entry as a stream and keep bytes [from, to) of its
   * output. With `verify`, inflate to the end and check that the output is
   * exactly the declared size and has the declared CRC; without, stop at
   * `to`. Either way the inflation is abandoned as soon as it passes the
   * declared size, so memory and time are bounded by it, not by the data.
   */
  private async inflate(l: Layout, from: number, to: number, verify: boolean): Promise<Uint8Array> {
    const e = l.entry;
    const raw = await this.source.read(await this.dataOffset(e), e.compressedSize);
    const want = to - from;
    // Grow as output arrives (capped at what is kept): a declared size is a claim, not a fact.
    let out = allocate(Math.min(want, Math.max(64 << 10, 4 * e.compressedSize)), l, this);
    let kept = 0;
    let pos = 0;
    let crc = 0;
    let ended = false;
    try {
      ended = await inflateRaw(raw, (chunk) => {
        const endPos = pos + chunk.length;
        if (endPos > e.size) {
          throw this.fail(l, `inflates past its declared ${e.size} bytes (a decompression bomb or corrupt data): stopped after ${endPos} bytes`);
        }
        if (verify) crc = crc32(chunk, crc);
        const a = Math.max(pos, from);
        const b = Math.min(endPos, to);
        if (b > a) {
          if (kept + (b - a) > out.length) {
            const grown = allocate(Math.min(want, Math.max(2 * out.length, kept + (b - a))), l, this);
            grown.set(out.subarray(0, kept));
            out = grown;
          }
          out.set(chunk.subarray(a - pos, b - pos), kept);
          kept += b - a;
        }
        pos = endPos;
        return verify || pos < to;
      });
    } catch (err) {
      if (err instanceof CheckpointFormatError) throw err;
      throw this.fail(l, `corrupt deflate data (${(err as Error)?.message ?? String(err)})`);
    }
    if (verify || ended) {
      if (pos !== e.size) throw this.fail(l, `inflates to only ${pos} bytes, the archive declares ${e.size} (truncated or corrupt)`);
      if (verify) this.checkCrc(l, crc);
    }
    if (!verify) this.stats.unverifiedReads++;
    if (kept !== want) throw this.fail(l, `inflates to only ${pos} bytes, the archive declares ${e.size} (truncated or corrupt)`);
    return out.length === want ? out : out.subarray(0, want);
  }
}

/**
 * Feed `raw` to a raw-deflate inflater in small steps and hand each output
 * chunk to `take`, which returns false to stop early (or throws). Resolves
 * true when the deflate stream ended, false when stopped.
 */
async function inflateRaw(raw: Uint8Array, take: (chunk: Uint8Array) => boolean): Promise<boolean> {
  const ds = new DecompressionStream("deflate-raw");
  const writer = ds.writable.getWriter();
  const reader = ds.readable.getReader();
  let stopped = false;
  const feeding = (async () => {
    for (let p = 0; p < raw.length && !stopped; p += INFLATE_STEP) {
      await writer.write(raw.subarray(p, Math.min(raw.length, p + INFLATE_STEP)) as Uint8Array<ArrayBuffer>);
    }
    if (!stopped) await writer.close();
  })();
  // Failures of the writing side show on the reading side too; never leave this one unhandled.
  feeding.catch(() => {});
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) {
        await feeding;
        return true;
      }
      if (!take(value)) {
        stopped = true;
        return false;
      }
    }
  } catch (err) {
    stopped = true;
    throw err;
  } finally {
    if (stopped) {
      await reader.cancel().catch(() => {});
      await writer.abort().catch(() => {});
      await feeding.catch(() => {});
    }
  }
}

function allocate(n: number, l: Layout, zip: ZipReader): Uint8Array {
  try {
    return new Uint8Array(n);
  } catch {
    throw new CheckpointFormatError(`${zip.source.name}: zip entry ${quoted(l.entry.name)}: cannot allocate ${n} bytes for it`);
  }
}

/** Bytes [offset, offset + length) of a buffer read whole: a view when little is left out, else a copy (so the rest can be freed). */
function pick(whole: Uint8Array, offset: number, length: number): Uint8Array {
  const view = whole.subarray(offset, offset + length);
  return whole.length - length <= Math.max(64 << 10, length >> 2) ? view : view.slice();
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** An exact 64-bit little-endian field, refused beyond 2^53 - 1. */
function u64(dv: DataView, o: number, fail: (msg: string) => Error, what: string): number {
  const v = dv.getBigUint64(o, true);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw fail(`${what} ${v} is out of range (corrupt)`);
  return Number(v);
}

/**
 * Walk the extra fields in `dv` [at, at + len), every header and length
 * bounds-checked, and return the data of the one with id `want` (ZIP64 is
 * 0x0001; -1 only checks). Up to three trailing bytes (padding some writers
 * add) are allowed.
 */
function readExtra(
  dv: DataView,
  at: number,
  len: number,
  want: number,
  fail: (msg: string) => Error,
  where: string,
): { start: number; length: number } | undefined {
  const end = at + len;
  if (end > dv.byteLength) throw fail(`its ${where} extra field runs past the end of the header (corrupt)`);
  let found: { start: number; length: number } | undefined;
  let e = at;
  while (e + 4 <= end) {
    const id = dv.getUint16(e, true);
    const n = dv.getUint16(e + 2, true);
    if (e + 4 + n > end) throw fail(`its ${where} extra field 0x${id.toString(16).padStart(4, "0")} (${n} bytes) runs past the end of the extra data (corrupt)`);
    if (id === want) {
      if (found) throw fail(`its ${where} has two ZIP64 extra fields (corrupt)`);
      found = { start: e + 4, length: n };
    }
    e += 4 + n;
  }
  return found;
}
