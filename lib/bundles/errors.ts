/**
 * Why a bundle cannot be imported (or exported): a precise reason for the `imports` resource.
 * The import's transaction rolls back, so the workspace is unchanged.
 */
export class BundleError extends Error {
  override name = 'BundleError';
  constructor(
    readonly reason: string,
    options?: ErrorOptions,
  ) {
    super(reason, options);
  }
}
