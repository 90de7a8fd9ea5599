import { createHash } from 'node:crypto';
import { strToU8, unzipSync, zipSync } from 'fflate';
import { expect } from 'vitest';
import { signManifest } from '#lib/bundles/format.ts';
import type { ApiClient } from './client.ts';
import { sendUpload } from './ingest.ts';

const FINISHED = ['complete', 'failed'];

/** Polls an export or import until it finishes and returns it. */
export async function waitFor(api: ApiClient, token: string, path: string, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await api.get(path, { token });
    expect(res.status).toBe(200);
    if (FINISHED.includes(res.body.status)) return res.body;
    if (Date.now() > deadline) throw new Error(`${path} still ${res.body.status}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Exports and downloads a bundle: the export resource and the archive's bytes. */
export async function exportBundle(
  api: ApiClient,
  token: string,
  ws: string,
  body: { type: string; resource_id?: string; include_files?: boolean },
) {
  const res = await api.post(`/api/v1/workspaces/${ws}/exports`, { token, json: body });
  expect(res.status, res.text).toBe(202);
  const done = await waitFor(api, token, `/api/v1/workspaces/${ws}/exports/${res.body.id}`);
  expect(done.status, done.error_message).toBe('complete');
  const download = await fetch(done.download.url);
  expect(download.status).toBe(200);
  return { export: done, bytes: new Uint8Array(await download.arrayBuffer()) };
}

/** Imports bytes through the presigned upload (or the request itself with `inline`) and waits for the end. */
export async function importBundle(
  api: ApiClient,
  token: string,
  ws: string,
  bytes: Uint8Array,
  /** `inline`: the app's base URL, to send the bundle with the request (multipart) instead. */
  options: { inline?: string } = {},
) {
  let res: { status: number; headers: Headers; body: any; text: string };
  if (options.inline) {
    const form = new FormData();
    form.append('file', new Blob([new Uint8Array(bytes)]), 'bundle.zip');
    const raw = await fetch(new URL(`/api/v1/workspaces/${ws}/imports`, options.inline), {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
      body: form,
    });
    res = { status: raw.status, headers: raw.headers, body: await raw.json(), text: '' };
  } else {
    res = await api.post(`/api/v1/workspaces/${ws}/imports`, { token, json: {} });
  }
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  if (!options.inline) {
    expect(res.body.status).toBe('awaiting_upload');
    const sent = await sendUpload(res.body.upload, bytes, 'bundle.zip');
    expect(sent.status).toBeLessThan(300);
  }
  return waitFor(api, token, `/api/v1/workspaces/${ws}/imports/${res.body.id}`);
}

/** A bundle's entries as text. */
export function entriesOf(bytes: Uint8Array): Record<string, string> {
  return Object.fromEntries(
    Object.entries(unzipSync(bytes)).map(([k, v]) => [k, Buffer.from(v).toString('utf8')]),
  );
}

/**
 * A bundle normalised for comparison: every UUID replaced by its order of first appearance,
 * timestamps and hashes (which change with ids) dropped.
 */
export function normalizeBundle(bytes: Uint8Array): unknown {
  const entries = entriesOf(bytes);
  const ids = new Map<string, string>();
  const rename = (text: string) =>
    text.replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, (id) => {
      if (!ids.has(id)) ids.set(id, `id${ids.size}`);
      return ids.get(id)!;
    });
  const manifest = JSON.parse(entries['manifest.json']!);
  const out: Record<string, unknown> = {
    manifest: { format: manifest.format, version: manifest.version, type: manifest.type },
  };
  // Entries in manifest order (the order they were written), so ids number the same way.
  for (const entry of manifest.entries as { path: string; sha256: string }[]) {
    // Original files are bytes: equal when their checksums are.
    if (!entry.path.endsWith('.jsonl')) {
      out[rename(entry.path)] = entry.sha256;
      continue;
    }
    const lines = entries[entry.path]!.split('\n').filter(Boolean);
    out[rename(entry.path)] = lines.map((l) => JSON.parse(rename(l)));
  }
  return out;
}

/**
 * A bundle built by hand (hostile bundles): entries in the order given, a manifest with their
 * true checksums unless `manifest` overrides parts of it, signed with `key` when given.
 */
export function makeBundle(
  entries: [string, string | Uint8Array][],
  options: { manifest?: Record<string, unknown>; key?: string; type?: string; omitManifest?: boolean } = {},
): Uint8Array {
  const type = options.type ?? 'workspace';
  const listed = entries.map(([path, data]) => {
    const bytes = typeof data === 'string' ? strToU8(data) : data;
    return { path, sha256: createHash('sha256').update(bytes).digest('hex'), bytes: bytes.length };
  });
  const manifest = {
    format: 'docsift-bundle',
    version: 1,
    type,
    exported_at: new Date().toISOString(),
    entries: listed,
    ...(options.key ? { signature: signManifest(options.key, type, listed) } : {}),
    ...options.manifest,
  };
  const files: Record<string, Uint8Array> = {};
  for (const [path, data] of entries) files[path] = typeof data === 'string' ? strToU8(data) : data;
  if (!options.omitManifest) files['manifest.json'] = strToU8(JSON.stringify(manifest));
  return zipSync(files);
}

/** JSON Lines of rows. */
export const jsonl = (rows: unknown[]) => rows.map((r) => `${JSON.stringify(r)}\n`).join('');
