/** A dataset that cannot be read: a missing, truncated or malformed file, an empty class folder, mixed image sizes. */
export class DatasetError extends Error {
  override name = "DatasetError";
}
