/**
 * A local HTTP server (127.0.0.1, port 0) that serves files the way the
 * Hugging Face hub and GitHub releases do, for download tests that never
 * leave the machine: a 302 from the "hub" path to a "CDN" path, with the
 * file's SHA-256 in `X-Linked-Etag` and its size in `X-Linked-Size` on the
 * 302 (the CDN's own ETag is a different 64-hex value, as the real one is),
 * Range requests answered 206 with Content-Range, Content-Length always.
 * Per route: ignore Range (always 200), drop the connection after N bytes,
 * state a wrong hash, answer a status (404).
 */
import { createHash } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface Route {
  body?: Uint8Array;
  /** Redirect (302) to `/cdn/<path>` first, stating the hash and size there (default true). */
  redirect?: boolean;
  /** The SHA-256 stated in `X-Linked-Etag`: the body's by default, null for none. */
  linkedEtag?: string | null;
  /** Honour `Range: bytes=N-` with 206 (default true); false answers 200 with the whole file. */
  ranges?: boolean;
  /** Destroy the socket after this many body bytes (then the route serves normally again). */
  dropAfter?: number;
  /** Answer with this status and no file (e.g. 404). */
  status?: number;
}

export interface LoggedRequest {
  method: string;
  path: string;
  range: string | undefined;
  status: number;
}

export interface FileServer {
  /** `http://127.0.0.1:<port>` */
  url: string;
  /** Routes by path (`/hub/var_d16.pth`); edit them between requests. */
  routes: Map<string, Route>;
  requests: LoggedRequest[];
  close(): Promise<void>;
}

const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

export async function startFileServer(routes: Record<string, Route> = {}): Promise<FileServer> {
  const table = new Map(Object.entries(routes));
  const requests: LoggedRequest[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? "/").split("?")[0];
    const range = req.headers.range;
    const log = (status: number) => requests.push({ method: req.method ?? "GET", path, range, status });
    const cdn = path.startsWith("/cdn/");
    const name = cdn ? path.slice(4) : path;
    const route = table.get(name);
    if (!route || (cdn && route.redirect === false)) {
      log(404);
      res.writeHead(404, { "Content-Type": "text/plain" }).end("Entry not found");
      return;
    }
    if (route.status) {
      log(route.status);
      res.writeHead(route.status, { "Content-Type": "text/plain" }).end("error");
      return;
    }
    const body = route.body ?? new Uint8Array(0);
    const stated: Record<string, string> = {};
    const etag = route.linkedEtag === undefined ? sha256(body) : route.linkedEtag;
    if (etag !== null) stated["X-Linked-Etag"] = `"${etag}"`;
    stated["X-Linked-Size"] = String(body.byteLength);
    if (!cdn && route.redirect !== false) {
      log(302);
      res.writeHead(302, { Location: `/cdn${name}?expires=1`, ...stated }).end();
      return;
    }
    // the CDN's ETag: 64 hex digits, but not the file's SHA-256 (never to be trusted as one)
    const headers: Record<string, string> = { "Accept-Ranges": "bytes", ETag: `"${sha256(new TextEncoder().encode(name))}"` };
    if (route.redirect === false) Object.assign(headers, stated);
    let start = 0;
    let status = 200;
    const m = range?.match(/^bytes=(\d+)-$/);
    if (m && route.ranges !== false) {
      start = Number(m[1]);
      if (start >= body.byteLength) {
        log(416);
        res.writeHead(416, { ...headers, "Content-Range": `bytes */${body.byteLength}` }).end();
        return;
      }
      status = 206;
      headers["Content-Range"] = `bytes ${start}-${body.byteLength - 1}/${body.byteLength}`;
    }
    const data = body.subarray(start);
    headers["Content-Length"] = String(data.byteLength);
    headers["Content-Type"] = "application/octet-stream";
    log(status);
    res.writeHead(status, headers);
    if (route.dropAfter !== undefined && route.dropAfter < data.byteLength) {
      const n = route.dropAfter;
      route.dropAfter = undefined;
      res.write(data.subarray(0, n), () => setTimeout(() => res.socket?.destroy(), 20));
      return;
    }
    res.end(data);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    routes: table,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
