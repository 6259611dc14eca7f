/**
 * @nextscale/sampler: not implemented yet. This package is a placeholder that
 * reserves the name and the place in the workspace; it exports nothing until
 * its issue lands (see the repository README's package table).
 */
export {};
