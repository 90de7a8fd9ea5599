/**
 * A file that cannot be ingested. `reason` is one short sentence for the user: the ingest
 * worker stores it as the datasource's `error_message`, so it says what is wrong with the
 * file (or the options given for it), never how the code failed. `cause` keeps the error
 * underneath for the logs.
 *
 * @example throw new IngestError('The PDF is encrypted (password-protected)', { cause: error });
 */
export class IngestError extends Error {
  override name = 'IngestError';
  constructor(
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(reason, options?.cause === undefined ? undefined : { cause: options.cause });
  }
}
