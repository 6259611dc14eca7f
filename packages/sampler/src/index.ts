/**
 * @nextscale/sampler: scale-by-scale VAR generation. This version has the
 * token sampling rules (top-k, top-p, multinomial, greedy); the generation
 * loop arrives with the tokenizer and transformer packages.
 */
export { argmaxRow, type FilterOptions, filterTopKTopP, sampleRow, sampleTokens, softmax, validateFilter } from "./top-k-top-p.js";
