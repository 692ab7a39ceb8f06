import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { createHttpServer } from '../../dist/api/server.js';
import { main } from '../../dist/cli/main.js';
import { encodeJson } from '../../dist/messaging/envelope.js';
import { EXAMPLES } from '../support/bundle.js';
import { CRAFTED_IDS } from '../support/crafted-ids.js';
import { startHost, type TestHost } from '../support/host.js';

/** Run the CLI in-process; returns exit code and output. */
async function cli(args: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(args, { out: (l) => out.push(l), err: (l) => err.push(l), stdin: process.stdin });
  return { code, out, err };
}

const SEND = ['send', '--bundle', EXAMPLES, '--tenant', 'acme', '--env', 'prod', '--team', 'support', '--channel', 'slack', '--user', 'u1', 'hello'];
/** Replace (or add) a flag, as --flag=value so that values starting with "-" reach the check. */
function withFlag(args: string[], flag: string, value: string): string[] {
  const i = args.indexOf(`--${flag}`);
  const copy = i < 0 ? [...args] : [...args.slice(0, i), ...args.slice(i + 2)];
  return [...copy.slice(0, -1), `--${flag}=${value}`, copy[copy.length - 1]!];
}

describe('crafted ids are refused at every entry', () => {
  describe('the command line: exit 2 and one line naming the flag', () => {
    for (const flag of ['tenant', 'env', 'team', 'channel', 'user', 'session']) {
      it.each(CRAFTED_IDS)(`send --${flag} %j`, async (bad, reason) => {
        const r = await cli(withFlag(SEND, flag, bad));
        expect(r.code).toBe(2);
        expect(r.out).toEqual([]);
        expect(r.err).toHaveLength(1);
        expect(r.err[0]).toContain(`in --${flag}: `);
        expect(r.err[0]).toContain(reason);
      });
    }
    it.each(CRAFTED_IDS)('secrets --tenant %j, call --tenant, serve --tenants', async (bad) => {
      expect((await cli(['secrets', 'list', '--data', '/nonexistent', `--tenant=${bad}`])).code).toBe(2);
      expect((await cli(['secrets', 'list', '--data', '/nonexistent', '--tenant', 'acme', `--team=${bad}`])).code).toBe(2);
      expect((await cli(['secrets', 'set', '--data', '/nonexistent', '--tenant', 'acme', '--', bad])).code).toBe(2);
      expect((await cli(['call', 'x.wasm', `--tenant=${bad}`, '--env', 'prod', '--input', 'x'])).code).toBe(2);
      expect((await cli(['serve', '--bundle', EXAMPLES, `--tenants=${bad}`])).code).toBe(2);
      expect((await cli(['serve', '--bundle', EXAMPLES, `--tenants=acme,${bad}`])).code).toBe(2);
    });
  });

  describe('HTTP paths and ingress subjects and bodies', () => {
    let t: TestHost;
    let app: FastifyInstance;
    let base: string;
    beforeAll(async () => {
      t = await startHost({ workers: 1 });
      app = await createHttpServer(t.host);
      base = await app.listen({ port: 0, host: '127.0.0.1' });
    });
    afterAll(async () => {
      await app.close();
      await t.close();
    });

    it.each(CRAFTED_IDS)('webchat path segment %j never reaches a flow', async (bad) => {
      for (let i = 0; i < 4; i++) {
        const parts = ['bigcorp', 'prod', 'helpdesk', 'webchat'];
        parts[i] = encodeURIComponent(bad);
        const res = await fetch(`${base}/webchat/${parts.join('/')}/messages`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: '{"text":"hi"}',
        });
        expect([400, 404]).toContain(res.status);
        const body = (await res.json()) as { error: { code: string; message: string } };
        expect(body.error.code).toMatch(/^(invalid-id|not-found|unknown-channel)$/);
      }
      expect(t.logs.lines.filter((l) => l.event === 'turn')).toEqual([]);
    });

    it.each(CRAFTED_IDS)('ingress subject token %j is dropped or refused', async (bad) => {
      const subject = `greentic.messaging.ingress.prod.${bad}.support.slack`;
      await t.host.bus.publish(subject, encodeJson({ id: 'm1', user: 'u1', text: 'hi' })).catch((e: Error) => expect(e.message).toMatch(/cannot publish/));
      await t.host.bus.drain();
      expect(t.logs.lines.filter((l) => l.event === 'turn')).toEqual([]);
    });

    it.each(CRAFTED_IDS)('ingress body user or session %j is rejected with a reason', async (bad) => {
      const reasons: string[] = [];
      const sub = t.host.bus.subscribe('greentic.messaging.egress.prod.acme.support.slack', (m) => {
        const e = JSON.parse(new TextDecoder().decode(m.data)) as { kind: string; message: string };
        if (e.kind === 'error') reasons.push(e.message);
      });
      await t.host.bus.publish('greentic.messaging.ingress.prod.acme.support.slack', encodeJson({ id: 'm1', user: bad, text: 'hi' }));
      await t.host.bus.publish('greentic.messaging.ingress.prod.acme.support.slack', encodeJson({ id: 'm2', user: 'u1', session: bad, text: 'hi' }));
      await t.host.bus.drain();
      sub.unsubscribe();
      expect(reasons).toHaveLength(2);
      expect(reasons[0]).toMatch(/^ingress message rejected: user: invalid user id/);
      expect(reasons[1]).toMatch(/^ingress message rejected: session: invalid session id/);
      expect(t.logs.lines.filter((l) => l.event === 'turn')).toEqual([]);
    });
  });
});
