// One density measurement in a process of its own: start a host on a bundle of N tenants,
// report RSS idle, then after one message to each of the first A1 and A2 tenants.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { channelOf } from './bundle.mjs';
import { dist, quietLogger } from './lib.mjs';

const [bundleDir, ...actives] = process.argv.slice(2);
const { GreenticHost } = await dist('host.js');
const { converse } = await dist('messaging/conversation.js');
process.env.GREENTIC_MASTER_KEY ??= 'aa'.repeat(32);
const t0 = performance.now();
const host = await GreenticHost.start({ bundleDir, dataDir: mkdtempSync(join(tmpdir(), 'bench-data-')), logger: await quietLogger(), workers: 2 });
const rss = () => {
  globalThis.gc?.();
  return process.memoryUsage().rss / 2 ** 20;
};
const out = { startMs: performance.now() - t0, tenants: host.runtimes.size, idleMb: rss(), active: {} };
let done = 0;
// At most 50 conversations at once; one that fails is counted, not fatal to the run.
out.failed = 0;
for (const a of actives.map(Number)) {
  while (done < a) {
    const batch = [];
    for (let k = 0; k < 50 && done < a; k++, done++) batch.push(converse(host.bus, channelOf(`t${done}`), { user: 'u1', text: 'hello' }, 30_000).catch(() => ({ ok: false })));
    for (const r of await Promise.all(batch)) if (!r.ok) out.failed++;
  }
  out.active[a] = rss();
}
await host.close();
process.stdout.write(JSON.stringify(out));
