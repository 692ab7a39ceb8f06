// One cold start in a process of its own (a restart, as an operator's host gets it): start a
// host on the bundle with the given transpile cache, send the first message, report the times.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { channelOf } from './bundle.mjs';
import { dist, quietLogger } from './lib.mjs';

const [bundleDir, cacheDir] = process.argv.slice(2);
process.env.GREENTIC_MASTER_KEY ??= 'aa'.repeat(32);
const { GreenticHost } = await dist('host.js');
const { converse } = await dist('messaging/conversation.js');
const logger = await quietLogger();
const t0 = performance.now();
const host = await GreenticHost.start({ bundleDir, dataDir: mkdtempSync(join(tmpdir(), 'bench-data-')), cacheDir, logger, workers: 2 });
const t1 = performance.now();
const r = await converse(host.bus, channelOf('t0'), { user: 'first', text: 'hello' });
const t2 = performance.now();
await host.close();
if (!r.ok) throw new Error(`first message failed: ${r.code}: ${r.message}`);
process.stdout.write(JSON.stringify({ first: t2 - t1, total: t2 - t0 }));
