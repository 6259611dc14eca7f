/**
 * Feature statistics: the streaming mean and covariance of feature vectors
 * in float64, and the `.npz` files that hold them.
 *
 * The covariance is the unbiased one of `np.cov(x, rowvar=False)` (divisor
 * N − 1), what pytorch-fid and OpenAI's evaluator compute. Batches are merged
 * with Chan et al.'s pairwise update (each batch centred on its own mean),
 * so 50,000 features accumulate without the cancellation of raw second
 * moments. The same update merges whole sets: statistics of disjoint shards
 * (mean, covariance, count) combine into those of their union
 * (`mergeStatistics`), equal to one run's up to float64 rounding.
 *
 * Files: our own `.npz` has `mu` (d), `sigma` (d × d), `count` and, when
 * spatial (sFID) features were collected, `mu_s` / `sigma_s` / `count_s`,
 * and `extractor` (the feature extractor's name as utf-8 bytes).
 * OpenAI's reference batches (`VIRTUAL_imagenet256_labeled.npz`) have `mu`,
 * `sigma`, `mu_s`, `sigma_s` and the images `arr_0`; both load with
 * `loadStatistics`.
 */
import { type HostTensor, openCheckpoint, type SourceInput, type TensorStore, toFloat32, writeNpz } from "@nextscale/core";
import { checkStatistics, type GaussianStatistics, StatisticsError } from "./frechet-distance.js";

/** Running mean and covariance of d-dimensional feature vectors. */
export class FeatureStatistics {
  private n = 0;
  private readonly mean: Float64Array;
  /** Σ (x − mean)(x − mean)ᵀ, lower triangle maintained. */
  private readonly m2: Float64Array;

  constructor(readonly dim: number) {
    if (!(Number.isInteger(dim) && dim > 0)) throw new StatisticsError(`feature dimension must be a positive integer (got ${dim})`);
    this.mean = new Float64Array(dim);
    this.m2 = new Float64Array(dim * dim);
  }

  get count(): number {
    return this.n;
  }

  /**
   * The running state of statistics already computed: mean, unbiased
   * covariance and count (Σ (x − mean)(x − mean)ᵀ = sigma·(count − 1)), e.g.
   * a shard's statistics file, to `merge` with others.
   */
  static fromStatistics(s: GaussianStatistics & { count?: number }, what = "statistics"): FeatureStatistics {
    const d = checkStatistics(s, what);
    const n = s.count;
    if (n === undefined) {
      throw new StatisticsError(`${what}: no sample count (OpenAI's reference batches and pytorch-fid's files have none); statistics merge only with their counts`);
    }
    if (!(Number.isSafeInteger(n) && n >= 1)) throw new StatisticsError(`${what}: count must be a positive integer (got ${n})`);
    const out = new FeatureStatistics(d);
    out.mean.set(s.mu);
    const k = n - 1;
    for (let i = 0; i < d; i++) for (let j = 0; j <= i; j++) out.m2[i * d + j] = s.sigma[i * d + j] * k;
    out.n = n;
    return out;
  }

  /**
   * Add the samples of another (disjoint) set, given by its running state:
   * afterwards this holds the statistics of the union (Chan et al.'s
   * pairwise update, M₂ = M₂ᵃ + M₂ᵇ + δδᵀ·nₐn_b/(nₐ + n_b)).
   */
  merge(other: FeatureStatistics): void {
    const d = this.dim;
    if (other.dim !== d) throw new StatisticsError(`cannot merge statistics of different feature dimensions: ${d} vs ${other.dim}`);
    const na = this.n;
    const nb = other.n;
    if (nb === 0) return;
    const n = na + nb;
    const w = (na * nb) / n;
    const delta = new Float64Array(d);
    for (let j = 0; j < d; j++) delta[j] = other.mean[j] - this.mean[j];
    const m2 = this.m2;
    for (let i = 0; i < d; i++) {
      const di = delta[i] * w;
      const ri = i * d;
      for (let j = 0; j <= i; j++) m2[ri + j] += other.m2[ri + j] + di * delta[j];
    }
    for (let j = 0; j < d; j++) this.mean[j] += (delta[j] * nb) / n;
    this.n = n;
  }

  /** Add a batch of features, row-major (rows × dim). */
  add(features: ArrayLike<number>, rows = features.length / this.dim): void {
    const d = this.dim;
    if (!Number.isInteger(rows) || features.length !== rows * d) {
      throw new StatisticsError(`feature batch has ${features.length} values, not a multiple of the feature dimension ${d}`);
    }
    if (rows === 0) return;
    // centre the batch on its own mean
    const bm = new Float64Array(d);
    for (let r = 0; r < rows; r++) for (let j = 0; j < d; j++) bm[j] += features[r * d + j];
    for (let j = 0; j < d; j++) bm[j] /= rows;
    const c = new Float64Array(rows * d);
    for (let r = 0; r < rows; r++) {
      for (let j = 0; j < d; j++) {
        const x = features[r * d + j];
        if (!Number.isFinite(x)) throw new StatisticsError(`feature batch has a non-finite value at row ${r}, column ${j}`);
        c[r * d + j] = x - bm[j];
      }
    }
    // m2 += Cᵀ·C + δδᵀ·n·m/(n + m), lower triangle
    const n = this.n;
    const w = (n * rows) / (n + rows);
    const delta = new Float64Array(d);
    for (let j = 0; j < d; j++) delta[j] = bm[j] - this.mean[j];
    const m2 = this.m2;
    let r = 0;
    for (; r + 3 < rows; r += 4) {
      // four rank-1 updates per pass over m2
      const o0 = r * d;
      const o1 = o0 + d;
      const o2 = o1 + d;
      const o3 = o2 + d;
      for (let i = 0; i < d; i++) {
        const c0 = c[o0 + i];
        const c1 = c[o1 + i];
        const c2 = c[o2 + i];
        const c3 = c[o3 + i];
        const ri = i * d;
        for (let j = 0; j <= i; j++) m2[ri + j] += c0 * c[o0 + j] + c1 * c[o1 + j] + c2 * c[o2 + j] + c3 * c[o3 + j];
      }
    }
    for (; r < rows; r++) {
      const o = r * d;
      for (let i = 0; i < d; i++) {
        const ci = c[o + i];
        const ri = i * d;
        for (let j = 0; j <= i; j++) m2[ri + j] += ci * c[o + j];
      }
    }
    if (n > 0) {
      for (let i = 0; i < d; i++) {
        const di = delta[i] * w;
        const ri = i * d;
        for (let j = 0; j <= i; j++) m2[ri + j] += di * delta[j];
      }
    }
    for (let j = 0; j < d; j++) this.mean[j] += (delta[j] * rows) / (n + rows);
    this.n = n + rows;
  }

  /** Mean and unbiased covariance (needs at least two samples). */
  result(): GaussianStatistics & { count: number } {
    const d = this.dim;
    if (this.n < 2) throw new StatisticsError(`need at least 2 feature vectors for a covariance, got ${this.n}`);
    const sigma = new Float64Array(d * d);
    const k = 1 / (this.n - 1);
    for (let i = 0; i < d; i++) {
      for (let j = 0; j <= i; j++) {
        const v = this.m2[i * d + j] * k;
        sigma[i * d + j] = v;
        sigma[j * d + i] = v;
      }
    }
    return { mu: Float64Array.from(this.mean), sigma, count: this.n };
  }
}

/** Statistics of one image set: pool features (FID) and, optionally, spatial features (sFID). */
export interface StatisticsFile {
  stats: GaussianStatistics & { count?: number };
  spatial?: GaussianStatistics & { count?: number };
  /** The feature extractor that produced the features (absent in OpenAI's files: FID Inception). */
  extractor?: string;
  /** Where it was read from, for messages. */
  name?: string;
}

const f64 = (shape: number[], data: Float64Array): HostTensor => ({ dtype: "float64", shape, data });

/**
 * Merge the statistics of disjoint image sets (e.g. the shards of a sharded
 * generation, each embedded on its own) into those of their union: count,
 * mean and unbiased covariance, and the spatial (sFID) statistics when every
 * part has them. Every part needs its sample count (our files store
 * `count` and `count_s`) and the same feature extractor. The result equals
 * the statistics of one run over all the images up to float64 rounding
 * (each run itself accumulates batch by batch in the same way).
 */
export function mergeStatistics(parts: readonly StatisticsFile[]): StatisticsFile & { stats: { count: number } } {
  if (parts.length === 0) throw new StatisticsError("nothing to merge: no statistics given");
  const name = (p: StatisticsFile, i: number) => p.name ?? `statistics ${i + 1}`;
  let extractor: string | undefined;
  parts.forEach((p, i) => {
    if (p.extractor === undefined) return;
    if (extractor !== undefined && p.extractor !== extractor) {
      throw new StatisticsError(`${name(p, i)} was embedded by "${p.extractor}", an earlier part by "${extractor}": statistics of different feature extractors cannot be merged`);
    }
    extractor = p.extractor;
  });
  const withSpatial = parts.filter((p) => p.spatial).length;
  if (withSpatial !== 0 && withSpatial !== parts.length) {
    const missing = parts.findIndex((p) => !p.spatial);
    throw new StatisticsError(`${name(parts[missing], missing)} has no spatial (sFID) statistics but other parts do: compute every part the same way`);
  }
  const merge = (get: (p: StatisticsFile) => (GaussianStatistics & { count?: number }) | undefined, what: string) => {
    let acc: FeatureStatistics | undefined;
    parts.forEach((p, i) => {
      const s = get(p)!;
      const part = FeatureStatistics.fromStatistics({ ...s, count: s.count ?? (what === "spatial statistics" ? p.stats.count : undefined) }, `${name(p, i)} ${what}`);
      if (acc && acc.dim !== part.dim) {
        throw new StatisticsError(`${name(p, i)}: ${what} have ${part.dim} dimensions, an earlier part ${acc.dim}: feature dimensions differ`);
      }
      if (acc) acc.merge(part);
      else acc = part;
    });
    const r = acc!.result();
    return { mu: r.mu, sigma: r.sigma, count: r.count };
  };
  const out: StatisticsFile & { stats: { count: number } } = { stats: merge((p) => p.stats, "statistics") };
  if (withSpatial) out.spatial = merge((p) => p.spatial, "spatial statistics");
  if (extractor !== undefined) out.extractor = extractor;
  return out;
}

/** Serialise statistics as an `.npz` (mu, sigma, count[, mu_s, sigma_s, count_s]) that numpy and OpenAI's evaluator read. */
export function statisticsToNpz(s: StatisticsFile): Uint8Array {
  const d = checkStatistics(s.stats, "statistics");
  const arrays: [string, HostTensor][] = [
    ["mu", f64([d], s.stats.mu)],
    ["sigma", f64([d, d], s.stats.sigma)],
  ];
  if (s.stats.count !== undefined) arrays.push(["count", { dtype: "int64", shape: [], data: BigInt64Array.of(BigInt(s.stats.count)) }]);
  if (s.spatial) {
    const ds = checkStatistics(s.spatial, "spatial statistics");
    arrays.push(["mu_s", f64([ds], s.spatial.mu)], ["sigma_s", f64([ds, ds], s.spatial.sigma)]);
    if (s.spatial.count !== undefined) {
      arrays.push(["count_s", { dtype: "int64", shape: [], data: BigInt64Array.of(BigInt(s.spatial.count)) }]);
    }
  }
  if (s.extractor) {
    const name = new TextEncoder().encode(s.extractor); // utf-8 bytes: npz has no plain string arrays without pickles
    arrays.push(["extractor", { dtype: "uint8", shape: [name.length], data: name }]);
  }
  return writeNpz(arrays);
}

async function readF64(store: TensorStore, key: string): Promise<Float64Array> {
  const t = await store.read(key);
  if (t.dtype === "float64") return t.data as Float64Array;
  if (t.dtype === "float32" || t.dtype === "float16" || t.dtype === "bfloat16") return Float64Array.from(toFloat32(t));
  throw new StatisticsError(`${store.name}: "${key}" has dtype ${t.dtype}, expected floating point`);
}

async function readCount(store: TensorStore, key: string): Promise<number | undefined> {
  if (!store.has(key)) return undefined;
  const t = await store.read(key);
  return Number(t.data[0]);
}

/** Whether a tensor file holds statistics (`mu` and `sigma`). */
export function hasStatistics(store: TensorStore): boolean {
  return store.has("mu") && store.has("sigma");
}

/** Read statistics from an open `.npz` store: ours, or an OpenAI reference batch. */
export async function readStatistics(store: TensorStore): Promise<StatisticsFile> {
  if (!hasStatistics(store)) {
    throw new StatisticsError(
      `${store.name}: no "mu" and "sigma" arrays (keys: ${store.keys().slice(0, 10).join(", ")}); not a statistics file`,
    );
  }
  const read = async (mu: string, sigma: string, count: string, what: string) => {
    const s = { mu: await readF64(store, mu), sigma: await readF64(store, sigma), count: await readCount(store, count) };
    const d = s.mu.length;
    const shape = store.info(sigma).shape;
    if (shape.length !== 2 || shape[0] !== d || shape[1] !== d) {
      throw new StatisticsError(`${store.name}: "${sigma}" has shape [${shape}], expected [${d}, ${d}] for a ${d}-d "${mu}"`);
    }
    checkStatistics(s, `${store.name} ${what}`);
    return s;
  };
  const out: StatisticsFile = { stats: await read("mu", "sigma", "count", "statistics"), name: store.name };
  if (store.has("extractor")) out.extractor = new TextDecoder().decode((await store.read("extractor")).data as Uint8Array);
  if (store.has("mu_s") && store.has("sigma_s")) out.spatial = await read("mu_s", "sigma_s", "count_s", "spatial statistics");
  return out;
}

/** Open and read a statistics `.npz` (path, URL, bytes or Blob). */
export async function loadStatistics(input: SourceInput): Promise<StatisticsFile> {
  const store = await openCheckpoint(input);
  try {
    return await readStatistics(store);
  } finally {
    await store.close();
  }
}
