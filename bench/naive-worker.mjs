// The naive design the sandbox is measured against: a worker that holds a plain jco instance
// (plain JS imports, no tenancy) and answers one postMessage per call.
import { parentPort, workerData } from 'node:worker_threads';

const { glueUrl, modules } = workerData;
const { instantiate } = await import(glueUrl);
const state = new Map([['k', 'v']]);
const slice = {
  get: (_ctx, k) => state.get(k),
  set: (_c, k, v) => void state.set(k, v),
  delete: (_c, k) => state.delete(k),
  listKeys: () => [...state.keys()],
};
const noop = { get: () => '', send: () => {}, write: () => {} };
const imports = {};
for (const v of ['', '@0.1.0']) {
  imports[`greentic:host/state${v}`] = slice;
  imports[`greentic:host/secrets${v}`] = noop;
  imports[`greentic:host/messaging${v}`] = noop;
  imports[`greentic:host/log${v}`] = noop;
}
const exports = await instantiate((name) => modules[name], imports);
const node = exports['greentic:host/node@0.1.0'] ?? exports.node;
parentPort.on('message', ({ ctx, input }) => parentPort.postMessage(node.invoke(ctx, input)));
parentPort.postMessage('ready');
