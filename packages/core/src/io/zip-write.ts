/** Write a zip archive of stored (uncompressed) entries (used for `.npz`), and the CRC-32 every zip reader and writer here uses. */

/**
 * CRC-32 (IEEE 802.3, as zip and PNG use it), incremental: `crc32(b, crc32(a))`
 * equals `crc32(a ++ b)`. Node's native `zlib.crc32` when there is one
 * (Node ≥ 20.15; about 2 GB/s on this project's machine), else slice-by-8 on
 * 32-bit words (about 1.35 GB/s in V8; the byte-at-a-time loop is 0.42).
 */
export function crc32(data: Uint8Array, crc = 0): number {
  if (!nativeCrc32) nativeCrc32 = findNativeCrc32() ?? crc32Js;
  return nativeCrc32(data, crc);
}

let nativeCrc32: ((data: Uint8Array, crc: number) => number) | undefined;

function findNativeCrc32(): ((data: Uint8Array, crc: number) => number) | undefined {
  // process.getBuiltinModule keeps node:zlib out of browser bundles (no static import).
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  try {
    const zlib = proc?.getBuiltinModule?.("node:zlib") as { crc32?: (data: Uint8Array, value?: number) => number } | undefined;
    const f = zlib?.crc32;
    // Check it against the known value of "123456789" before trusting it.
    if (typeof f === "function" && f(new TextEncoder().encode("123456789"), 0) === 0xcbf43926) return (d, c) => (d.byteLength ? f(d, c) : c);
  } catch {
    // no native CRC: the JavaScript one below
  }
  return undefined;
}

let TABLES: Int32Array | undefined;
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** Eight 256-entry tables: TABLES[k·256 + b] is the CRC of byte b followed by k zero bytes. */
function tables(): Int32Array {
  const t = new Int32Array(256 * 8);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c;
  }
  for (let n = 0; n < 256; n++) for (let k = 1; k < 8; k++) t[k * 256 + n] = (t[(k - 1) * 256 + n] >>> 8) ^ t[t[(k - 1) * 256 + n] & 0xff];
  return t;
}

/** The portable implementation (exported for tests; `crc32` picks the fastest). */
export function crc32Js(data: Uint8Array, crc = 0): number {
  if (!TABLES) TABLES = tables();
  const t = TABLES;
  const n = data.length;
  let c = ~crc;
  let i = 0;
  if (LITTLE_ENDIAN) {
    // Bytes up to a 4-byte boundary, then two 32-bit words per step.
    while (i < n && (data.byteOffset + i) & 3) c = t[(c ^ data[i++]) & 0xff] ^ (c >>> 8);
    const pairs = (n - i) >>> 3;
    const w = new Int32Array(data.buffer, data.byteOffset + i, pairs * 2);
    for (let j = 0; j < w.length; j += 2) {
      const a = w[j] ^ c;
      const b = w[j + 1];
      c =
        t[1792 + (a & 0xff)] ^
        t[1536 + ((a >>> 8) & 0xff)] ^
        t[1280 + ((a >>> 16) & 0xff)] ^
        t[1024 + (a >>> 24)] ^
        t[768 + (b & 0xff)] ^
        t[512 + ((b >>> 8) & 0xff)] ^
        t[256 + ((b >>> 16) & 0xff)] ^
        t[b >>> 24];
    }
    i += pairs * 8;
  }
  while (i < n) c = t[(c ^ data[i++]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

export function writeZipStored(files: [string, Uint8Array][]): Uint8Array {
  const enc = new TextEncoder();
  const parts: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  const seen = new Set<string>();
  if (files.length > 0xfffe) throw new Error(`writeZipStored: ${files.length} entries; more than 65534 are not supported`);
  for (const [name, data] of files) {
    if (data.byteLength >= 0xffffffff || offset >= 0xffffffff) throw new Error("writeZipStored: archives over 4 GiB are not supported");
    if (seen.has(name)) throw new Error(`writeZipStored: duplicate entry name ${JSON.stringify(name.slice(0, 200))}`);
    seen.add(name);
    const nb = enc.encode(name);
    if (nb.length > 0xffff) throw new Error(`writeZipStored: entry name of ${nb.length} bytes (at most 65535)`);
    // Bit 11: the name is UTF-8 (set only when it is not plain ASCII, as Python's zipfile does).
    const flags = nb.length !== name.length ? 0x800 : 0;
    const crc = crc32(data);
    const local = new Uint8Array(30 + nb.length);
    const lv = new DataView(local.buffer);
    lv.setUint32(0, 0x04034b50, true);
    lv.setUint16(4, 20, true);
    lv.setUint16(6, flags, true);
    lv.setUint16(8, 0, true); // stored
    lv.setUint32(14, crc, true);
    lv.setUint32(18, data.byteLength, true);
    lv.setUint32(22, data.byteLength, true);
    lv.setUint16(26, nb.length, true);
    local.set(nb, 30);
    const cd = new Uint8Array(46 + nb.length);
    const cv = new DataView(cd.buffer);
    cv.setUint32(0, 0x02014b50, true);
    cv.setUint16(4, 20, true);
    cv.setUint16(6, 20, true);
    cv.setUint16(8, flags, true);
    cv.setUint32(16, crc, true);
    cv.setUint32(20, data.byteLength, true);
    cv.setUint32(24, data.byteLength, true);
    cv.setUint16(28, nb.length, true);
    cv.setUint32(42, offset, true);
    cd.set(nb, 46);
    parts.push(local, data);
    central.push(cd);
    offset += local.length + data.byteLength;
  }
  const cdSize = central.reduce((s, c) => s + c.length, 0);
  if (offset + cdSize >= 0xffffffff) throw new Error("writeZipStored: archives over 4 GiB are not supported");
  const eocd = new Uint8Array(22);
  const ev = new DataView(eocd.buffer);
  ev.setUint32(0, 0x06054b50, true);
  ev.setUint16(8, files.length, true);
  ev.setUint16(10, files.length, true);
  ev.setUint32(12, cdSize, true);
  ev.setUint32(16, offset, true);
  const out = new Uint8Array(offset + cdSize + 22);
  let p = 0;
  for (const x of [...parts, ...central, eocd]) {
    out.set(x, p);
    p += x.length;
  }
  return out;
}
