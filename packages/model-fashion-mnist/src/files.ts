/**
 * The package's weight files: a local path in Node (the package's folder),
 * a URL elsewhere (a bundler serves `weights/` as assets, e.g. vite's
 * `new URL(…, import.meta.url)`).
 */

/** `weights/<name>` of this package, as a path (Node, `file:` modules) or a URL. */
export function weightFile(name: string): string {
  const url = new URL(`../weights/${name}`, import.meta.url);
  if (url.protocol !== "file:") return url.href;
  const path = decodeURIComponent(url.pathname);
  return /^\/[A-Za-z]:\//.test(path) ? path.slice(1) : path; // file:///C:/… → C:/…
}
