/**
 * @nextscale/backends: one interface to choose where the numbers are
 * computed. Model code never imports a backend; a deployment calls
 * `initBackend` once (by name or by preference order) and everything runs on
 * the active tfjs backend, with the fast versions of core's fused kernels
 * registered for it.
 */
export { backendFromEnv, backendInfo, initBackend, listBackends } from "./backend.js";
export { KERNELS, type KernelEntry } from "./kernels/register-all.js";
export { setTrainingKernels, TRAINING_KERNELS } from "./kernels/training.js";
export { SWIFTSHADER_ICD } from "./loaders/webgpu.js";
export {
  ALL_BACKENDS,
  type BackendInfo,
  type BackendName,
  type BackendStatus,
  BackendUnavailableError,
  type InitOptions,
} from "./types.js";
