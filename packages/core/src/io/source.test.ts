import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { FIXTURES } from "@nextscale/test-utils";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openCheckpoint } from "./checkpoint.js";
import type { Progress } from "./source.js";

const file = join(FIXTURES, "var-tiny", "var.pth");
const bytes = readFileSync(file);

describe("sources other than a path", () => {
  let server: Server;
  let base = "";
  const requests: string[] = [];
  beforeAll(async () => {
    server = createServer((req, res) => {
      requests.push(`${req.url} ${req.headers.range ?? "-"}`);
      const m = /bytes=(\d+)-(\d+)/.exec(req.headers.range ?? "");
      if (req.url === "/ranged.pth" && m) {
        const a = Number(m[1]);
        const b = Math.min(Number(m[2]), bytes.length - 1);
        res.writeHead(206, { "content-range": `bytes ${a}-${b}/${bytes.length}`, "content-length": b - a + 1 });
        res.end(bytes.subarray(a, b + 1));
      } else if (req.url === "/plain.pth") {
        res.writeHead(200, { "content-length": bytes.length });
        res.end(bytes);
      } else {
        res.writeHead(404);
        res.end();
      }
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  const headWeight = async (input: Parameters<typeof openCheckpoint>[0], opts = {}) => {
    const s = await openCheckpoint(input, opts);
    const t = await s.read("head.weight");
    await s.close();
    return t;
  };

  it("a Blob / File reads the same tensors as the path", async () => {
    const want = await headWeight(file);
    const got = await headWeight(new Blob([bytes]));
    expect(Array.from(got.data as Float32Array)).toEqual(Array.from(want.data as Float32Array));
  });

  it("a URL with Range support is read in ranges, never whole", async () => {
    requests.length = 0;
    const got = await headWeight(`${base}/ranged.pth`);
    expect(got.shape.length).toBe(2);
    expect(requests.every((r) => r.includes("bytes="))).toBe(true);
    expect(requests.length).toBeGreaterThan(2);
  });

  it("a URL without Range support streams once with progress", async () => {
    const seen: Progress[] = [];
    const got = await headWeight(`${base}/plain.pth`, { onProgress: (p: Progress) => seen.push(p) });
    expect(got.shape.length).toBe(2);
    expect(seen.at(-1)).toEqual({ loaded: bytes.length, total: bytes.length });
  });

  it("an HTTP error is a clear error", async () => {
    await expect(openCheckpoint(`${base}/missing.pth`)).rejects.toThrow(/HTTP 404/);
  });
});
