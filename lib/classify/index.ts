/** The classify module's public API; see scheme.ts. */
export * from './scheme.ts';
