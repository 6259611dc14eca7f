// Fréchet distance of two full-rank 2048-d statistics, timed (not a test).
// Run after `pnpm build`: `node bench/frechet.bench.mjs [dim] [samples]`.
// Each covariance comes from `samples`
// pseudo-random feature vectors with correlated dimensions (building them is
// not timed).
import { cpus } from "node:os";
import { FeatureStatistics, frechetDistance } from "../dist/index.js";

const dim = Number(process.argv[2] ?? 2048);
const samples = Number(process.argv[3] ?? dim + 512);

let seed = 12345;
const rand = () => {
  seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
  return seed / 2 ** 32 - 0.5;
};

function statistics(shift) {
  const s = new FeatureStatistics(dim);
  const batch = 64;
  const x = new Float32Array(batch * dim);
  for (let r = 0; r < samples; r += batch) {
    const rows = Math.min(batch, samples - r);
    for (let i = 0; i < rows; i++) {
      let carry = 0;
      for (let j = 0; j < dim; j++) {
        carry = 0.7 * carry + rand(); // neighbouring dimensions correlate
        x[i * dim + j] = carry + shift * Math.sin(j);
      }
    }
    s.add(x.subarray(0, rows * dim));
  }
  return s.result();
}

const t0 = performance.now();
const a = statistics(0);
const b = statistics(0.3);
const t1 = performance.now();
console.log(`built two ${dim}-d statistics from ${samples} samples each in ${((t1 - t0) / 1000).toFixed(1)} s`);
const runs = [];
let r;
for (let i = 0; i < 3; i++) {
  const s = performance.now();
  r = frechetDistance(a, b);
  runs.push((performance.now() - s) / 1000);
}
console.log(
  `frechetDistance ${dim}-d: ${runs.map((t) => `${t.toFixed(2)} s`).join(", ")} (best ${Math.min(...runs).toFixed(2)} s) ` +
    `on ${cpus().length} × ${cpus()[0]?.model ?? "cpu"}, node ${process.version}; FD = ${r.distance} (rank ${r.rank})`,
);
