/**
 * A plain static file server for the built demo, as a user's own server
 * would be: files from one folder, with the two headers that make the page
 * cross-origin isolated (README, "Hosting"). Nothing else: no SPA fallback,
 * no compression. `isolate: false` leaves the headers out (single-threaded).
 */
import { createReadStream, existsSync, statSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { extname, join, resolve } from "node:path";

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript",
  ".css": "text/css",
  ".wasm": "application/wasm",
  ".json": "application/json",
  ".png": "image/png",
};

export interface StaticServer {
  url: string;
  /** Paths requested, in order (to tell a download from a cache hit). */
  requests: string[];
  close(): Promise<void>;
}

/** Serve `root` at http://127.0.0.1:<port>/, and `extra` URL paths (e.g. "/fixtures/vae.pth") from files elsewhere. */
export async function serveStatic(root: string, opts: { isolate?: boolean; extra?: Record<string, string> } = {}): Promise<StaticServer> {
  const dir = resolve(root);
  const requests: string[] = [];
  const server = createServer((req, res) => {
    const urlPath = decodeURIComponent((req.url ?? "/").split("?")[0]);
    requests.push(urlPath);
    const file = opts.extra?.[urlPath] ?? join(dir, urlPath.endsWith("/") ? `${urlPath}index.html` : urlPath);
    if ((!opts.extra?.[urlPath] && !file.startsWith(dir)) || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404).end("not found");
      return;
    }
    const headers: Record<string, string> = { "Content-Type": TYPES[extname(file)] ?? "application/octet-stream" };
    if (opts.isolate !== false) {
      headers["Cross-Origin-Opener-Policy"] = "same-origin";
      headers["Cross-Origin-Embedder-Policy"] = "require-corp";
    }
    headers["Content-Length"] = String(statSync(file).size);
    res.writeHead(200, headers);
    createReadStream(file).pipe(res); // streamed: an official checkpoint is over a gigabyte
  });
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    requests,
    close: () =>
      new Promise<void>((ok) => {
        server.closeAllConnections();
        server.close(() => ok());
      }),
  };
}
