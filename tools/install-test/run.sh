#!/usr/bin/env bash
# The install test (see README.md here): pack @nextscale/sampler and
# @nextscale/backends (and the workspace packages they depend on) as npm would
# publish them, install the tarballs plus @tensorflow/tfjs-core into an empty
# npm project, and check that no Dawn binaries came along, that there is one
# tfjs-core, and that an image generates on wasm. Run after `pnpm build`.
# NEXTSCALE_KEEP_INSTALL_TEST=1 keeps the temporary project.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HERE="$ROOT/tools/install-test"
WANT=(@nextscale/sampler @nextscale/backends)
NPM_FLAGS=(--no-audit --no-fund --prefer-offline --loglevel=warn)

fail() {
  echo "install test FAILED: $*" >&2
  exit 1
}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/nextscale-install-test.XXXXXX")
if [ "${NEXTSCALE_KEEP_INSTALL_TEST:-}" = 1 ]; then
  echo "keeping $WORK"
else
  trap 'rm -rf "$WORK"' EXIT
fi
mkdir -p "$WORK/tarballs" "$WORK/app"

# The wanted packages and every workspace package they depend on (not on the
# npm registry, so npm must be given their tarballs too), as package dirs.
list=$(node - "$ROOT" "${WANT[@]}" <<'EOF'
const { readdirSync, readFileSync, existsSync } = require("node:fs");
const { join } = require("node:path");
const [root, ...want] = process.argv.slice(2);
const byName = new Map();
for (const d of readdirSync(join(root, "packages"))) {
  const f = join(root, "packages", d, "package.json");
  if (existsSync(f)) byName.set(JSON.parse(readFileSync(f, "utf8")).name, join(root, "packages", d));
}
const seen = new Set();
const visit = (name) => {
  if (seen.has(name)) return;
  if (!byName.has(name)) throw new Error(`${name} is not a workspace package`);
  seen.add(name);
  const pkg = JSON.parse(readFileSync(join(byName.get(name), "package.json"), "utf8"));
  for (const dep of Object.keys({ ...pkg.dependencies, ...pkg.optionalDependencies, ...pkg.peerDependencies })) {
    if (!byName.has(dep)) continue;
    // an optional peer that compiles a native addon at install (@nextscale/backend-native) is for those who
    // ask for it: the user this test plays never installs it, and the check below finds no *.node binary
    const native = JSON.parse(readFileSync(join(byName.get(dep), "package.json"), "utf8")).scripts?.install;
    if (pkg.peerDependenciesMeta?.[dep]?.optional && native) continue;
    visit(dep);
  }
};
want.forEach(visit);
for (const n of seen) console.log(byName.get(n));
EOF
) || fail "cannot list the workspace packages"
mapfile -t DIRS <<<"$list"

echo "packing (pnpm pack rewrites workspace: ranges to versions):"
for d in "${DIRS[@]}"; do
  [ -f "$d/dist/index.js" ] || fail "${d#"$ROOT"/}/dist/index.js is missing: run pnpm build first"
  (cd "$d" && pnpm pack --pack-destination "$WORK/tarballs" >"$WORK/pack.log" 2>&1) || { cat "$WORK/pack.log"; fail "pnpm pack in ${d#"$ROOT"/}"; }
done
TARBALLS=("$WORK"/tarballs/*.tgz)
for t in "${TARBALLS[@]}"; do
  tar xzf "$t" -O package/LICENSE >/dev/null 2>&1 || fail "$(basename "$t") has no LICENSE"
  echo "  $(basename "$t")  $(du -k "$t" | cut -f1) kB"
done

cd "$WORK/app"
printf '{ "name": "nextscale-install-test", "version": "1.0.0", "private": true, "type": "module" }\n' >package.json
echo "npm install ${TARBALLS[*]##*/} @tensorflow/tfjs-core@^4.22.0"
start=$(date +%s)
npm install "${NPM_FLAGS[@]}" "${TARBALLS[@]}" "@tensorflow/tfjs-core@^4.22.0" >"$WORK/npm.log" 2>&1 \
  || { cat "$WORK/npm.log"; fail "npm install"; }
grep . "$WORK/npm.log" | sed 's/^/  npm: /' || true
! grep -q ERESOLVE "$WORK/npm.log" || fail "npm could not fit the peer dependencies together (ERESOLVE above)"
echo "  installed in $(($(date +%s) - start)) s: $(node -p 'Object.keys(require("./node_modules/.package-lock.json").packages).length') packages, $(du -sh node_modules | cut -f1)"

echo "checks:"
# No Dawn: the optional peer "webgpu" is not installed, and no native addon came with anything.
webgpu=$(find node_modules -type f \( -path node_modules/webgpu/package.json -o -path '*/node_modules/webgpu/package.json' \))
[ -z "$webgpu" ] || fail "the webgpu package (Dawn) was installed: $webgpu"
addons=$(find node_modules -type f \( -name 'dawn*.node' -o -name '*.node' \))
[ -z "$addons" ] || fail "native binaries under node_modules (Dawn?):"$'\n'"$addons"
echo "  no webgpu package, no *.node binary under node_modules"

# One tfjs-core: one copy on disk, npm's tree agrees, and every package that needs it resolves that copy.
copies=$(find node_modules -type f -path '*/@tensorflow/tfjs-core/package.json' -not -path '*/@tensorflow/tfjs-core/*/*')
[ "$(printf '%s\n' "$copies" | grep -c .)" = 1 ] || fail "expected one @tensorflow/tfjs-core, found:"$'\n'"$copies"
npm ls --all @tensorflow/tfjs-core >"$WORK/ls.log" 2>&1 || { cat "$WORK/ls.log"; fail "npm ls reports a problem with @tensorflow/tfjs-core"; }
versions=$(grep -o '@tensorflow/tfjs-core@[^ ]*' "$WORK/ls.log" | sort -u || true)
[ "$(printf '%s\n' "$versions" | grep -c .)" = 1 ] || fail "npm ls shows more than one tfjs-core: $versions"
node - <<'EOF' || fail "packages resolve different copies of @tensorflow/tfjs-core"
const { createRequire } = require("node:module");
const { readdirSync, existsSync } = require("node:fs");
const users = ["", ...readdirSync("node_modules/@nextscale").map((d) => `node_modules/@nextscale/${d}/`),
  ...readdirSync("node_modules/@tensorflow").filter((d) => d.startsWith("tfjs-backend-")).map((d) => `node_modules/@tensorflow/${d}/`)];
const where = new Set(users.map((u) => createRequire(`${process.cwd()}/${u}package.json`).resolve("@tensorflow/tfjs-core/package.json")));
if (where.size !== 1) { console.error([...where].join("\n")); process.exit(1); }
console.log(`  one @tensorflow/tfjs-core (${require("./node_modules/@tensorflow/tfjs-core/package.json").version}), resolved by the app and by ${users.length - 1} packages: ${users.slice(1).map((u) => u.replace("node_modules/", "").replace(/\/$/, "")).join(", ")}`);
EOF

echo "generating with only @nextscale/sampler, @nextscale/backends (and @nextscale/core for the PNG):"
cp "$HERE/generate.mjs" .
node generate.mjs "$ROOT/test-fixtures/var-tiny/vae.pth" "$ROOT/test-fixtures/var-tiny/var.pth" "$WORK/tiny.png" 2>&1 | sed 's/^/  /' \
  || fail "generating an image in the installed project"
echo "install test passed"
