/**
 * @nextscale/train: the paper's two training stages (the multi-scale
 * VQ-VAE, then the VAR transformer on its token maps) with the official
 * recipe, datasets, and checkpoints that move both ways with the official
 * PyTorch trainer.
 */
export * from "./checkpoint/index.js";
export * from "./data/index.js";
export * from "./optim/index.js";
