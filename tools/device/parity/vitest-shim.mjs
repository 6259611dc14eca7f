// A minimal stand-in for vitest, enough to run the tokenizer, transformer and
// sampler test files on a machine without node_modules (the GPU machine of
// tools/device/run.sh): bundle-parity.mjs aliases `vitest` to this file.
//   describe (.each .skip .skipIf .runIf), it/test (.each .skip .skipIf .runIf .todo),
//   beforeAll afterAll beforeEach afterEach, expect (the matchers those files use;
//   any other matcher FAILS its test with "unsupported matcher X"), and run(),
//   which executes what was collected, in order, one test at a time.
// Tests print to stdout as usual; run() adds one "[result] {json}" line per test
// (so that a run cut short still says what passed) and returns the summary.
// A test's timeout: its own (it(name, fn, ms) or { timeout }), else
// NEXTSCALE_PARITY_TIMEOUT_MS (default 600 000 ms); hooks get the same default.
import { inspect } from "node:util";

const DEFAULT_TIMEOUT = Number(process.env.NEXTSCALE_PARITY_TIMEOUT_MS) || 600_000;

class SkipSignal extends Error {
  constructor(reason) {
    super(reason ?? "skipped");
    this.reason = reason ?? "";
  }
}

function suiteNode(name, parent) {
  return { type: "suite", name, suite: parent, file: parent?.file, children: [], beforeAll: [], afterAll: [], beforeEach: [], afterEach: [], mode: "run", reason: "" };
}

/** The file: the root of the tree (ctx.task.file; setFile names it). */
const root = suiteNode("", undefined);
root.type = "file";
root.file = root;
root.filepath = "";
let current = root;
const pending = [];

/** Sets the collected file's name and absolute path (ctx.task.file.filepath). */
export function setFile(filepath, name = filepath) {
  root.filepath = filepath;
  root.name = name;
}

// (name, fn), (name, fn, timeout | options), (name, options, fn)
function args(a, b) {
  if (typeof a === "function") return { fn: a, opts: typeof b === "number" ? { timeout: b } : (b ?? {}) };
  if (typeof b === "function") return { fn: b, opts: typeof a === "number" ? { timeout: a } : (a ?? {}) };
  return { fn: undefined, opts: typeof a === "number" ? { timeout: a } : (a ?? {}) };
}

function format(name, row, index) {
  const values = Array.isArray(row) ? row : [row];
  let i = 0;
  let out = String(name).replace(/%[sdifjoO#%]/g, (m) => {
    if (m === "%%") return "%";
    if (m === "%#") return String(index);
    const v = values[i++];
    if (m === "%d" || m === "%i") return String(Math.trunc(Number(v)));
    if (m === "%f") return String(Number(v));
    if (m === "%s") return typeof v === "string" ? v : inspect(v, { depth: 1 });
    return JSON.stringify(v);
  });
  if (row && typeof row === "object" && !Array.isArray(row)) out = out.replace(/\$([A-Za-z_][\w.]*)/g, (m, k) => (k in row ? String(row[k]) : m));
  return out;
}

function collectSuite(name, fn, mode, reason) {
  const s = suiteNode(String(name), current);
  s.mode = current.mode === "skip" ? "skip" : mode;
  s.reason = s.mode === "skip" && current.mode === "skip" ? current.reason : reason;
  current.children.push(s);
  if (!fn) return;
  const prev = current;
  current = s;
  try {
    const r = fn();
    if (r && typeof r.then === "function") {
      pending.push(
        r.catch((e) => {
          s.collectError = e;
        }),
      );
    }
  } catch (e) {
    s.collectError = e;
  } finally {
    current = prev;
  }
}

function makeDescribe(mode, reason = "") {
  const d = (name, a, b) => collectSuite(name, args(a, b).fn, mode, reason);
  d.each =
    (table) =>
    (name, a, b) => {
      const { fn } = args(a, b);
      table.forEach((row, i) => {
        collectSuite(format(name, row, i), fn && (() => (Array.isArray(row) ? fn(...row) : fn(row))), mode, reason);
      });
    };
  return d;
}

function collectTest(name, fn, opts, mode, reason) {
  const inSkip = current.mode === "skip";
  current.children.push({
    type: "test",
    name: String(name),
    suite: current,
    file: root,
    fn,
    timeout: opts.timeout ?? DEFAULT_TIMEOUT,
    mode: inSkip ? "skip" : fn ? mode : "todo",
    reason: inSkip ? current.reason : reason,
  });
}

function makeTest(mode, reason = "") {
  const t = (name, a, b) => {
    const { fn, opts } = args(a, b);
    collectTest(name, fn, opts, mode, reason);
  };
  t.each =
    (table) =>
    (name, a, b) => {
      const { fn, opts } = args(a, b);
      table.forEach((row, i) => {
        collectTest(format(name, row, i), fn && (() => (Array.isArray(row) ? fn(...row) : fn(row))), opts, mode, reason);
      });
    };
  return t;
}

const runTest = makeTest("run");
runTest.skip = makeTest("skip", "it.skip");
runTest.todo = (name) => collectTest(name, undefined, {}, "todo", "todo");
runTest.skipIf = (cond) => (cond ? makeTest("skip", "skipIf") : runTest);
runTest.runIf = (cond) => (cond ? runTest : makeTest("skip", "runIf"));
runTest.only = runTest;
export const it = runTest;
export const test = runTest;

const runDescribe = makeDescribe("run");
runDescribe.skip = makeDescribe("skip", "describe.skip");
runDescribe.skipIf = (cond) => (cond ? makeDescribe("skip", "skipIf") : runDescribe);
runDescribe.runIf = (cond) => (cond ? runDescribe : makeDescribe("skip", "runIf"));
runDescribe.only = runDescribe;
runDescribe.todo = (name) => collectSuite(name, undefined, "skip", "todo");
export const describe = runDescribe;
export const suite = runDescribe;

const hook = (kind) => (fn, timeout) => {
  current[kind].push({ fn, timeout: (typeof timeout === "number" ? timeout : timeout?.timeout) ?? DEFAULT_TIMEOUT });
};
export const beforeAll = hook("beforeAll");
export const afterAll = hook("afterAll");
export const beforeEach = hook("beforeEach");
export const afterEach = hook("afterEach");

// ---- expect -------------------------------------------------------------------------------------

const show = (v) => inspect(v, { depth: 4, maxArrayLength: 12, maxStringLength: 300, breakLength: 160 });

class Asymmetric {
  constructor(name, sample, match) {
    this.name = name;
    this.sample = sample;
    this.match = match;
  }
  asymmetricMatch(other) {
    return this.match(other);
  }
  [inspect.custom]() {
    return `expect.${this.name}(${show(this.sample)})`;
  }
}
const isAsymmetric = (v) => v !== null && typeof v === "object" && typeof v.asymmetricMatch === "function";

const tag = (v) => Object.prototype.toString.call(v);

/** vitest's equality: recursive; `strict` (toStrictEqual) also compares undefined properties, sparseness and classes. */
export function equals(a, b, strict = false, seen = []) {
  if (isAsymmetric(a) && !isAsymmetric(b)) return a.asymmetricMatch(b);
  if (isAsymmetric(b)) return b.asymmetricMatch(a);
  if (Object.is(a, b)) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  const ta = tag(a);
  if (ta !== tag(b)) return false;
  if (strict && Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return false;
  if (ta === "[object Number]" || ta === "[object String]" || ta === "[object Boolean]") return Object.is(a.valueOf(), b.valueOf());
  if (ta === "[object Date]") return Object.is(a.getTime(), b.getTime());
  if (ta === "[object RegExp]") return a.source === b.source && a.flags === b.flags;
  if (a instanceof Error && b instanceof Error) return a.message === b.message && a.name === b.name;
  for (const [x, y] of seen) if (x === a && y === b) return true;
  seen = [...seen, [a, b]];
  if (ta === "[object ArrayBuffer]") return equals(new Uint8Array(a), new Uint8Array(b), strict, seen);
  if (ta === "[object DataView]") return equals(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), new Uint8Array(b.buffer, b.byteOffset, b.byteLength), strict, seen);
  if (ArrayBuffer.isView(a)) {
    if (a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return false;
    return true;
  }
  if (a instanceof Map) {
    if (a.size !== b.size) return false;
    for (const [k, v] of a) {
      if (b.has(k)) {
        if (!equals(v, b.get(k), strict, seen)) return false;
      } else if (![...b].some(([k2, v2]) => equals(k, k2, strict, seen) && equals(v, v2, strict, seen))) return false;
    }
    return true;
  }
  if (a instanceof Set) {
    if (a.size !== b.size) return false;
    for (const v of a) if (!b.has(v) && ![...b].some((w) => equals(v, w, strict, seen))) return false;
    return true;
  }
  if (Array.isArray(a)) {
    if (a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) {
      if (strict && i in a !== i in b) return false;
      if (!equals(a[i], b[i], strict, seen)) return false;
    }
  }
  const keys = (o) => [...Object.keys(o), ...Object.getOwnPropertySymbols(o).filter((s) => Object.prototype.propertyIsEnumerable.call(o, s))].filter((k) => !(Array.isArray(o) && /^\d+$/.test(String(k))));
  const ka = keys(a).filter((k) => strict || a[k] !== undefined);
  const kb = keys(b).filter((k) => strict || b[k] !== undefined);
  if (ka.length !== kb.length) return false;
  for (const k of ka) {
    if (!(k in b)) return false;
    if (!equals(a[k], b[k], strict, seen)) return false;
  }
  return true;
}

/** toMatchObject: every property of `want` (recursively) equals the one of `got`. */
function matchesObject(got, want) {
  if (isAsymmetric(want)) return want.asymmetricMatch(got);
  if (typeof want !== "object" || want === null || typeof got !== "object" || got === null) return equals(got, want);
  if (Array.isArray(want)) return Array.isArray(got) && got.length === want.length && want.every((w, i) => matchesObject(got[i], w));
  if (ArrayBuffer.isView(want) || want instanceof Date || want instanceof RegExp || want instanceof Map || want instanceof Set) return equals(got, want);
  return Object.keys(want).every((k) => k in got && matchesObject(got[k], want[k]));
}

const errorMessage = (e) => (e && typeof e === "object" && "message" in e ? String(e.message) : String(e));

function throwMatches(err, expected) {
  if (expected === undefined) return true;
  if (typeof expected === "string") return errorMessage(err).includes(expected);
  if (expected instanceof RegExp) return expected.test(errorMessage(err));
  if (typeof expected === "function") return err instanceof expected;
  if (isAsymmetric(expected)) return expected.asymmetricMatch(err);
  if (expected instanceof Error) return errorMessage(err) === expected.message;
  if (typeof expected === "object") return matchesObject(err, expected);
  throw new TypeError(`toThrow: unsupported argument ${show(expected)}`);
}

const num = (v, what) => {
  if (typeof v !== "number" && typeof v !== "bigint") throw new TypeError(`${what}: ${show(v)} is not a number or bigint`);
  return v;
};

/** Each matcher: (actual, ...expected) => [pass, message when the assertion fails, message when .not fails]. */
const matchers = {
  toBe: (a, b) => [Object.is(a, b), `expected ${show(a)} to be ${show(b)}${equals(a, b) ? " (equal, but not the same: toEqual?)" : ""}`, `expected ${show(a)} not to be ${show(b)}`],
  toEqual: (a, b) => [equals(a, b), `expected ${show(a)} to deeply equal ${show(b)}`, `expected ${show(a)} not to deeply equal ${show(b)}`],
  toStrictEqual: (a, b) => [equals(a, b, true), `expected ${show(a)} to strictly equal ${show(b)}`, `expected ${show(a)} not to strictly equal ${show(b)}`],
  toMatchObject: (a, b) => [matchesObject(a, b), `expected ${show(a)} to match object ${show(b)}`, `expected ${show(a)} not to match object ${show(b)}`],
  toBeLessThan: (a, b) => [num(a, "toBeLessThan") < num(b, "toBeLessThan"), `expected ${show(a)} to be less than ${show(b)}`, `expected ${show(a)} not to be less than ${show(b)}`],
  toBeLessThanOrEqual: (a, b) => [num(a, "toBeLessThanOrEqual") <= num(b, "toBeLessThanOrEqual"), `expected ${show(a)} to be <= ${show(b)}`, `expected ${show(a)} not to be <= ${show(b)}`],
  toBeGreaterThan: (a, b) => [num(a, "toBeGreaterThan") > num(b, "toBeGreaterThan"), `expected ${show(a)} to be greater than ${show(b)}`, `expected ${show(a)} not to be greater than ${show(b)}`],
  toBeGreaterThanOrEqual: (a, b) => [num(a, "toBeGreaterThanOrEqual") >= num(b, "toBeGreaterThanOrEqual"), `expected ${show(a)} to be >= ${show(b)}`, `expected ${show(a)} not to be >= ${show(b)}`],
  toBeCloseTo: (a, b, digits = 2) => {
    const pass = (a === Number.POSITIVE_INFINITY && b === a) || (a === Number.NEGATIVE_INFINITY && b === a) || Math.abs(num(a, "toBeCloseTo") - num(b, "toBeCloseTo")) < 10 ** -digits / 2;
    return [pass, `expected ${show(a)} to be close to ${show(b)} (${digits} digits)`, `expected ${show(a)} not to be close to ${show(b)} (${digits} digits)`];
  },
  toMatch: (a, b) => {
    if (typeof a !== "string") throw new TypeError(`toMatch: ${show(a)} is not a string`);
    return [typeof b === "string" ? a.includes(b) : b.test(a), `expected ${show(a)} to match ${show(b)}`, `expected ${show(a)} not to match ${show(b)}`];
  },
  toContain: (a, b) => {
    const pass = typeof a === "string" ? a.includes(String(b)) : a != null && typeof a[Symbol.iterator] === "function" ? [...a].some((x) => x === b) : false;
    return [pass, `expected ${show(a)} to contain ${show(b)}`, `expected ${show(a)} not to contain ${show(b)}`];
  },
  toContainEqual: (a, b) => [[...a].some((x) => equals(x, b)), `expected ${show(a)} to contain an element equal to ${show(b)}`, `expected ${show(a)} not to contain ${show(b)}`],
  toHaveLength: (a, n) => [a != null && a.length === n, `expected length ${n}, got ${a?.length} (${show(a)})`, `expected length other than ${n}`],
  toHaveProperty: (a, path, ...v) => {
    const keys = Array.isArray(path) ? path : String(path).split(".");
    let o = a;
    let has = true;
    for (const k of keys) {
      if (o == null || !(k in Object(o))) {
        has = false;
        break;
      }
      o = o[k];
    }
    const pass = has && (v.length === 0 || equals(o, v[0]));
    return [pass, `expected ${show(a)} to have property ${show(path)}${v.length ? ` = ${show(v[0])}` : ""}`, `expected ${show(a)} not to have property ${show(path)}`];
  },
  toBeInstanceOf: (a, cls) => [a instanceof cls, `expected ${show(a)} to be an instance of ${cls?.name}`, `expected ${show(a)} not to be an instance of ${cls?.name}`],
  toBeDefined: (a) => [a !== undefined, "expected a defined value, got undefined", `expected undefined, got ${show(a)}`],
  toBeUndefined: (a) => [a === undefined, `expected undefined, got ${show(a)}`, "expected a defined value, got undefined"],
  toBeNull: (a) => [a === null, `expected null, got ${show(a)}`, "expected a value other than null"],
  toBeNaN: (a) => [Number.isNaN(a), `expected NaN, got ${show(a)}`, "expected a value other than NaN"],
  toBeTruthy: (a) => [!!a, `expected ${show(a)} to be truthy`, `expected ${show(a)} to be falsy`],
  toBeFalsy: (a) => [!a, `expected ${show(a)} to be falsy`, `expected ${show(a)} to be truthy`],
  toBeTypeOf: (a, t) => [typeof a === t, `expected typeof ${show(a)} to be ${t}`, `expected typeof ${show(a)} not to be ${t}`],
};

class AssertionError extends Error {
  name = "AssertionError";
}

function assertion(actual, message, flags) {
  const prefix = message ? `${message}: ` : "";
  const check = (pass, fail, notFail) => {
    if (pass === flags.not) throw new AssertionError(prefix + (flags.not ? notFail : fail));
  };
  const apply = (name, value, rest) => {
    if (name === "toThrow" || name === "toThrowError") {
      let threw = false;
      let err;
      if (flags.mode === "rejects") {
        threw = true;
        err = value;
      } else {
        if (typeof value !== "function") throw new TypeError(`${name}: expected a function, got ${show(value)}`);
        try {
          value();
        } catch (e) {
          threw = true;
          err = e;
        }
      }
      const pass = threw && throwMatches(err, rest[0]);
      const what = rest[0] === undefined ? "" : ` matching ${typeof rest[0] === "function" ? rest[0].name : show(rest[0])}`;
      check(pass, threw ? `expected the error${what}, got: ${errorMessage(err)}` : `expected a throw${what}, nothing was thrown`, `expected no throw${what}, got: ${errorMessage(err)}`);
      return;
    }
    const m = matchers[name];
    const [pass, fail, notFail] = m(value, ...rest);
    check(pass, fail, notFail);
  };
  return new Proxy(
    {},
    {
      get(_, prop) {
        if (typeof prop === "symbol" || prop === "then") return undefined;
        if (prop === "not") return assertion(actual, message, { ...flags, not: !flags.not });
        if (prop === "resolves" || prop === "rejects") {
          if (flags.mode) throw new AssertionError(`${prop} after ${flags.mode}`);
          return assertion(actual, message, { ...flags, mode: prop });
        }
        const known = prop in matchers || prop === "toThrow" || prop === "toThrowError";
        return (...rest) => {
          if (!known) throw new AssertionError(`unsupported matcher ${prop} (tools/device/parity/vitest-shim.mjs)`);
          if (!flags.mode) return apply(prop, actual, rest);
          return Promise.resolve(typeof actual === "function" ? actual() : actual).then(
            (v) => {
              if (flags.mode === "rejects") throw new AssertionError(`${prefix}expected a rejection, the promise resolved to ${show(v)}`);
              apply(prop, v, rest);
            },
            (e) => {
              if (flags.mode === "resolves") throw new AssertionError(`${prefix}expected the promise to resolve, it rejected: ${errorMessage(e)}`);
              apply(prop, e, rest);
            },
          );
        };
      },
    },
  );
}

export function expect(actual, message) {
  return assertion(actual, message, { not: false, mode: undefined });
}
expect.arrayContaining = (sample) => new Asymmetric("arrayContaining", sample, (o) => Array.isArray(o) && sample.every((s) => o.some((x) => equals(x, s))));
expect.objectContaining = (sample) => new Asymmetric("objectContaining", sample, (o) => o !== null && typeof o === "object" && Object.keys(sample).every((k) => k in o && equals(o[k], sample[k])));
expect.stringContaining = (sample) => new Asymmetric("stringContaining", sample, (o) => typeof o === "string" && o.includes(sample));
expect.stringMatching = (sample) => new Asymmetric("stringMatching", sample, (o) => typeof o === "string" && (typeof sample === "string" ? new RegExp(sample) : sample).test(o));
expect.any = (cls) =>
  new Asymmetric("any", cls, (o) => {
    if (cls === Number) return typeof o === "number" || o instanceof Number;
    if (cls === String) return typeof o === "string" || o instanceof String;
    if (cls === Boolean) return typeof o === "boolean" || o instanceof Boolean;
    if (cls === BigInt) return typeof o === "bigint";
    if (cls === Function) return typeof o === "function";
    return o instanceof cls;
  });
expect.anything = () => new Asymmetric("anything", "", (o) => o !== null && o !== undefined);
expect.closeTo = (n, digits = 2) => new Asymmetric("closeTo", n, (o) => typeof o === "number" && Math.abs(o - n) < 10 ** -digits / 2);

// ---- run ----------------------------------------------------------------------------------------

function withTimeout(fn, ms, what) {
  let timer;
  return Promise.race([
    Promise.resolve().then(fn),
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

function fullName(node) {
  const names = [];
  for (let n = node; n && n.type !== "file"; n = n.suite) names.unshift(n.name);
  return names.join(" > ");
}

const firstLine = (e) => {
  const m = errorMessage(e);
  return e instanceof Error && e.name && e.name !== "Error" && e.name !== "AssertionError" && !m.startsWith(e.name) ? `${e.name}: ${m}` : m;
};

function contextFor(task) {
  return {
    task,
    skip(reason) {
      throw new SkipSignal(reason);
    },
    expect,
    onTestFailed() {},
    onTestFinished() {},
  };
}

/** Runs what was collected; prints a "[result] {json}" line per test and returns the summary. */
export async function run() {
  await Promise.all(pending);
  const results = [];
  const errors = [];
  const onUnhandled = (e) => {
    errors.push(`unhandled: ${firstLine(e)}`);
    console.error("unhandled error during the run:", e);
  };
  process.on("unhandledRejection", onUnhandled);
  process.on("uncaughtException", onUnhandled);
  const record = (r) => {
    results.push(r);
    console.log(`[result] ${JSON.stringify(r)}`);
  };
  const t0 = Date.now();

  const skipAll = (node, status, reason) => {
    for (const c of node.children) {
      if (c.type === "suite") skipAll(c, status, reason);
      else record({ name: fullName(c), status, ms: 0, ...(status === "failed" ? { error: reason } : { reason }) });
    }
  };

  const eachHooks = (node, kind) => {
    const chain = [];
    for (let n = node; n; n = n.type === "file" ? undefined : n.suite) chain.unshift(n);
    const hooks = chain.flatMap((n) => n[kind]);
    return kind === "afterEach" ? hooks.reverse() : hooks;
  };

  async function runTask(t) {
    const name = fullName(t);
    if (t.mode === "skip" || t.mode === "todo") {
      record({ name, status: t.mode === "todo" ? "todo" : "skipped", ms: 0, reason: t.reason });
      return;
    }
    const ctx = contextFor(t);
    const start = Date.now();
    let error;
    let skipped;
    try {
      for (const h of eachHooks(t.suite, "beforeEach")) await withTimeout(() => h.fn(ctx), h.timeout, "beforeEach");
      await withTimeout(() => t.fn(ctx), t.timeout, "test");
    } catch (e) {
      if (e instanceof SkipSignal) skipped = e.reason;
      else error = e;
    }
    for (const h of eachHooks(t.suite, "afterEach")) {
      try {
        await withTimeout(() => h.fn(ctx), h.timeout, "afterEach");
      } catch (e) {
        if (!(e instanceof SkipSignal)) error ??= e;
      }
    }
    const ms = Date.now() - start;
    if (error) {
      console.error(`FAIL ${name}\n`, error);
      record({ name, status: "failed", ms, error: firstLine(error) });
    } else if (skipped !== undefined) record({ name, status: "skipped", ms, reason: skipped });
    else record({ name, status: "passed", ms });
  }

  async function runSuite(s) {
    if (s.collectError) {
      const name = fullName(s) || s.name || "(file)";
      console.error(`FAIL ${name} (collecting)\n`, s.collectError);
      record({ name: `${name} (collect)`, status: "failed", ms: 0, error: firstLine(s.collectError) });
    }
    if (s.mode === "skip") return skipAll(s, "skipped", s.reason);
    for (const h of s.beforeAll) {
      try {
        await withTimeout(h.fn, h.timeout, "beforeAll");
      } catch (e) {
        if (e instanceof SkipSignal) return skipAll(s, "skipped", e.reason);
        console.error(`FAIL ${fullName(s)} (beforeAll)\n`, e);
        return skipAll(s, "failed", `beforeAll: ${firstLine(e)}`);
      }
    }
    for (const c of s.children) {
      if (c.type === "suite") await runSuite(c);
      else await runTask(c);
    }
    for (const h of s.afterAll) {
      try {
        await withTimeout(h.fn, h.timeout, "afterAll");
      } catch (e) {
        console.error(`FAIL ${fullName(s)} (afterAll)\n`, e);
        record({ name: `${fullName(s) || "(file)"} (afterAll)`, status: "failed", ms: 0, error: firstLine(e) });
      }
    }
  }

  await runSuite(root);
  process.off("unhandledRejection", onUnhandled);
  process.off("uncaughtException", onUnhandled);
  const count = (st) => results.filter((r) => r.status === st).length;
  return {
    file: root.name,
    passed: count("passed"),
    failed: count("failed") + errors.length,
    skipped: count("skipped"),
    todo: count("todo"),
    ms: Date.now() - t0,
    errors,
    tests: results,
  };
}
