import type { Command } from 'commander';
import { workspaces } from '#lib/http/routes.ts';
import { type ApiClient, apiClient } from './api.ts';
import { type Profile, readConfig } from './config.ts';

export const DEFAULT_API = 'http://127.0.0.1:8000/api/v1';

/** A failure to report on stderr with an exit code (1 unless stated). */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

/** What every command gets: the API, the stored profile, an authenticated client, output helpers. */
export type Context = {
  api: string;
  json: boolean;
  profile: Profile;
  client: ApiClient;
  /** Human lines go to stderr when `--json` is on, so stdout stays one JSON document. */
  info: (line: string) => void;
  /** `--json`: the value as JSON on stdout; otherwise `text()` on stdout. */
  output: (value: unknown, text: () => string) => void;
  /** `--workspace`, else the profile's default (`workspaces use`), else the caller's default workspace. */
  workspace: () => Promise<string>;
};

/** Builds the context from the global options (`--api`, `--json`, `--workspace`) of `command`. */
export async function contextOf(command: Command, options: { auth?: boolean } = {}): Promise<Context> {
  const opts = command.optsWithGlobals<{ api?: string; json?: boolean; workspace?: string }>();
  const api = (opts.api ?? process.env.DOCSIFT_API ?? DEFAULT_API).replace(/\/+$/, '');
  const profile = (await readConfig()).profiles[api] ?? {};
  const token = process.env.DOCSIFT_TOKEN ?? profile.token;
  if (options.auth !== false && !token) throw new CliError(`Not logged in to ${api}: run docsift login`);
  const client = apiClient(api, token);
  const json = Boolean(opts.json);
  return {
    api,
    json,
    profile,
    client,
    info: (line) => (json ? process.stderr : process.stdout).write(`${line}\n`),
    output: (value, text) =>
      process.stdout.write(json ? `${JSON.stringify(value, null, 2)}\n` : `${text()}\n`),
    async workspace() {
      if (opts.workspace) return opts.workspace;
      if (profile.workspace) return profile.workspace;
      return (await client.call(workspaces.ensureDefault)).id;
    },
  };
}

/** Pads columns for a small table. */
export function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows
    .map((r) =>
      r
        .map((cell, i) => cell.padEnd(widths[i] ?? 0))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}
