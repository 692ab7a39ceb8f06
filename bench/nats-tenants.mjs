// What per-tenant JetStream resources and per-tenant accounts cost: for N tenants, the time to
// create their streams and buckets, an instance's set-up when they exist (what every start
// does), the server's memory and disk, and a minimal durable turn's latency with N tenants'
// streams on the server against 1. Then N accounts: the time and memory of one connection per
// tenant. Run: node bench/nats-tenants.mjs [N ...] (default 1 100 500); needs nats-server.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { connect as tcp, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { dist, quietLogger, stats } from './lib.mjs';

const SIZES = process.argv.slice(2).map(Number).filter((n) => n > 0);
const Ns = SIZES.length > 0 ? SIZES : [1, 100, 500];
const TURNS = Number(process.env.BENCH_MESSAGES ?? 500);

const freePort = () => new Promise((r) => { const s = createServer(); s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => r(port)); }); });
async function server(config) {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'bench-tenants-'));
  const args = ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', join(dir, 'js')];
  if (config) (writeFileSync(join(dir, 'nats.conf'), config), args.push('-c', join(dir, 'nats.conf')));
  const proc = spawn('nats-server', args, { stdio: 'ignore' });
  for (let up = false; !up; ) {
    up = await new Promise((r) => { const s = tcp(port, '127.0.0.1'); s.once('connect', () => (s.destroy(), r(true))); s.once('error', () => (s.destroy(), r(false))); });
    if (!up) await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url: `nats://127.0.0.1:${port}`,
    rssMiB: () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${proc.pid}/status`, 'utf8'))[1]) / 1024,
    diskMiB: () => Number(execFileSync('du', ['-sk', join(dir, 'js')]).toString().split('\t')[0]) / 1024,
    stop: async () => { proc.kill('SIGTERM'); await new Promise((r) => proc.once('exit', r)); rmSync(dir, { recursive: true, force: true }); },
  };
}

const { NatsLinks } = await dist('messaging/nats/links.js');
const { NatsBus } = await dist('messaging/nats/nats-bus.js');
const { ensureIngressConsumer, DEFAULT_DELIVERY } = await dist('messaging/nats/ingress-consumer.js');
const { NatsSessionStore } = await dist('stores/nats-session-store.js');
const { encodeJson } = await dist('messaging/envelope.js');
const logger = await quietLogger();
const ms = (v) => `${v.toFixed(2)} ms`;

/** The minimal durable turn of FACTS.md on tenant t0's own resources: ingress publish, KV get, KV create, egress publish. */
async function turnLatency(links) {
  const store = await NatsSessionStore.open(links);
  const { js } = links.forTenant('t0');
  const samples = [];
  for (let i = 0; i < TURNS; i++) {
    const t0 = performance.now();
    await js.publish('greentic.messaging.ingress.prod.t0.support.slack', encodeJson({ id: `m${i}`, user: 'u', text: 'hi' }), { msgID: `m${i}-${Date.now()}` });
    const key = { tenant: 't0', env: 'prod', team: 'support', session: `s${i}-${Date.now()}` };
    await store.get(key);
    await store.put(key, { v: 1, ...key, channel: 'slack', user: 'u', cursor: null, state: {}, created_at: 0, updated_at: 0, turns: 1, recent_messages: [] }, 0);
    await js.publish('greentic.messaging.egress.prod.t0.support.slack', encodeJson({ kind: 'turn-end' }), { msgID: `e${i}-${Date.now()}` });
    samples.push(performance.now() - t0);
  }
  return stats(samples.slice(Math.floor(TURNS / 10)));
}

console.log(`per-tenant resources (5 streams each: ingress, egress, dead letters, sessions, secrets; + 1 ingress consumer)`);
console.log('| tenants | create all | set-up when they exist (a start) | per tenant | server RSS | server disk | turn p50 / p99 |');
console.log('|---|---|---|---|---|---|---|');
for (const n of Ns) {
  const srv = await server();
  const rss0 = srv.rssMiB();
  const links = await NatsLinks.connect({ url: srv.url }, logger);
  const bus = await NatsBus.open(links, logger);
  const tenants = Array.from({ length: n }, (_, i) => `t${i}`);
  let t = performance.now();
  await bus.setUp(tenants);
  await Promise.all(tenants.map((tn) => ensureIngressConsumer(links.forTenant(tn), tn, DEFAULT_DELIVERY, logger)));
  const create = performance.now() - t;
  t = performance.now();
  await bus.setUp(tenants);
  await Promise.all(tenants.map((tn) => ensureIngressConsumer(links.forTenant(tn), tn, DEFAULT_DELIVERY, logger)));
  const again = performance.now() - t;
  const turn = await turnLatency(links);
  console.log(
    `| ${n} | ${ms(create)} | ${ms(again)} | ${ms(again / n)} | +${(srv.rssMiB() - rss0).toFixed(1)} MiB | ${srv.diskMiB().toFixed(1)} MiB | ${ms(turn.p50)} / ${ms(turn.p99)} |`,
  );
  await bus.close();
  await links.close();
  await srv.stop();
}

console.log('\nan account per tenant (one connection each, as a shared instance holds them)');
console.log('| accounts | connect all | per connection | server RSS | host RSS |');
console.log('|---|---|---|---|---|');
for (const n of Ns) {
  const accounts = Array.from({ length: n }, (_, i) => `  T${i}: { jetstream: enabled, users: [{ user: host_t${i}, password: p${i} }] }`).join('\n');
  const srv = await server(`accounts {\n  GREENTIC: { jetstream: enabled, users: [{ user: host, password: p }] }\n${accounts}\n}\n`);
  const rss0 = srv.rssMiB();
  const host0 = process.memoryUsage().rss;
  const tenants = new Map(Array.from({ length: n }, (_, i) => [`t${i}`, { user: `host_t${i}`, password: `p${i}` }]));
  const t = performance.now();
  const links = await NatsLinks.connect({ url: srv.url, user: 'host', password: 'p', tenants }, logger);
  await links.connectTenants(tenants.keys());
  const took = performance.now() - t;
  console.log(`| ${n} | ${ms(took)} | ${ms(took / n)} | +${(srv.rssMiB() - rss0).toFixed(1)} MiB | +${((process.memoryUsage().rss - host0) / 1048576).toFixed(1)} MiB |`);
  await links.close();
  await srv.stop();
}
