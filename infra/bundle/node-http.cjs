// node:http for the bundles, through process.getBuiltinModule instead of an ESM import: Node's
// ESM view of node:http reads every export, and its lazy WebSocket/CloseEvent/MessageEvent
// getters load Node's whole internal undici (60–75 ms of every cold start). See infra/bundling.ts.
module.exports = process.getBuiltinModule('node:http');
