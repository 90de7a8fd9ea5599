import { isIP } from 'node:net';
import { Agent, buildConnector } from 'undici';
import { IngestError } from '#lib/ingest/errors.ts';
import { checkAddress, type GuardOptions, guardedLookup, unbracket } from '#lib/ingest/ssrf.ts';

// Apart from the checks in ssrf.ts: undici is a large module, and the API checks webhook and
// page URLs (checkUrl) without ever connecting to them.

/**
 * An undici Agent whose every connection is guarded: IP literal hosts are checked before
 * connecting (Node skips `lookup` for them), names go through {@link guardedLookup}.
 * Connection errors carry the refusing {@link IngestError} as their cause.
 */
export function createGuardedAgent(options: GuardOptions): Agent {
  const connector = buildConnector({ lookup: guardedLookup(options) });
  return new Agent({
    connect: (connectOptions, callback) => {
      const host = unbracket(connectOptions.hostname);
      const result = isIP(host) ? checkAddress(host, options) : { ok: true as const };
      if (!result.ok) return callback(new IngestError(result.reason), null);
      connector(connectOptions, callback);
    },
  });
}
