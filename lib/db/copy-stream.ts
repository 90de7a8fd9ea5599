// pg-copy-streams behind an import() of its own (lib/db/copy.ts): only the ingest worker's runs
// COPY, so no other function loads it at start. Imported statically here, as esbuild's CommonJS
// interop needs for a named export.
export { from as copyFromStdin } from 'pg-copy-streams';
