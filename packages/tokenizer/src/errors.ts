/** Bad input to the tokenizer (wrong image size or channels, wrong indices, not a VQ-VAE checkpoint): the message says what was expected. */
export class VqvaeInputError extends Error {
  override name = "VqvaeInputError";
}
