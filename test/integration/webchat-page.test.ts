import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser } from 'playwright-core';
import type { FastifyInstance } from 'fastify';
import { createHttpServer } from '../../dist/api/server.js';
import { ROOT } from '../support/bundle.js';
import { startHost, type TestHost } from '../support/host.js';
import { decodePng } from '../support/png.js';

/** Debian's chromium (`apt-get install chromium`; .ci/run installs it). */
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
let t: TestHost;
let app: FastifyInstance;
let base: string;
let browser: Browser;

beforeAll(async () => {
  if (!existsSync(CHROMIUM))
    throw new Error(`no Chromium at ${CHROMIUM}: install Debian's chromium package (apt-get install -y chromium) or set CHROMIUM_PATH`);
  t = await startHost();
  app = await createHttpServer(t.host);
  base = await app.listen({ port: 0, host: '127.0.0.1' });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
});
afterAll(async () => {
  await browser?.close();
  await app?.close();
  await t?.close();
});

describe('the webchat page, in a real browser', () => {
  it('holds a conversation that survives a reload, and looks like a chat', async () => {
    const page = await browser.newPage({ viewport: { width: 800, height: 700 } });
    const cspErrors: string[] = [];
    page.on('console', (m) => m.type() === 'error' && cspErrors.push(m.text()));
    const url = `${base}/webchat/bigcorp/prod/helpdesk/webchat`;
    await page.goto(url);
    await page.waitForSelector('body[data-ready="true"]');
    expect(await page.title()).toBe('BigCorp Helpdesk');

    const bot = page.locator('#log li.bot');
    await page.fill('#text', 'hi');
    await page.click('button[type=submit]');
    await bot.first().waitFor();
    expect(await bot.first().textContent()).toBe("BigCorp Helpdesk here. What's your issue?");
    await page.fill('#text', 'the wifi is down again');
    await page.press('#text', 'Enter');
    await bot.nth(1).waitFor();
    expect(await bot.nth(1).textContent()).toBe('Network trouble noted. Try reconnecting to the VPN; an engineer will follow up on "the wifi is down again".');

    // Reload: the session cookie brings the conversation back.
    await page.reload();
    await page.waitForSelector('body[data-ready="true"]');
    expect(await page.locator('#log li').allTextContents()).toEqual([
      'hi',
      "BigCorp Helpdesk here. What's your issue?",
      'the wifi is down again',
      'Network trouble noted. Try reconnecting to the VPN; an engineer will follow up on "the wifi is down again".',
    ]);
    const cookies = await page.context().cookies();
    expect(cookies).toHaveLength(1);
    expect(cookies[0]).toMatchObject({ name: 'greentic_webchat', path: '/webchat/bigcorp/prod/helpdesk/webchat', httpOnly: true, sameSite: 'Strict' });

    // Screenshot check: the header bar, the user's bubble (right) and the bot's bubble (left).
    const shot = await page.screenshot();
    mkdirSync(join(ROOT, 'test-results'), { recursive: true });
    writeFileSync(join(ROOT, 'test-results', 'webchat.png'), shot);
    const png = decodePng(shot);
    expect([png.width, png.height]).toEqual([800, 700]);
    const near = (p: [number, number, number], q: [number, number, number]) => p.every((v, i) => Math.abs(v - q[i]!) < 12);
    const box = async (sel: string) => (await page.locator(sel).boundingBox())!;
    const header = await box('header');
    expect(near(png.pixel(Math.round(header.x + 10), Math.round(header.y + 5)), [0x1f, 0x4e, 0x8c])).toBe(true);
    const userBubble = await box('#log li.user >> nth=0');
    const botBubble = await box('#log li.bot >> nth=0');
    expect(userBubble.x).toBeGreaterThan(botBubble.x); // user on the right, bot on the left
    expect(near(png.pixel(Math.round(userBubble.x + 6), Math.round(userBubble.y + userBubble.height / 2)), [0x1f, 0x4e, 0x8c])).toBe(true);
    expect(near(png.pixel(Math.round(botBubble.x + 6), Math.round(botBubble.y + botBubble.height / 2)), [0xe8, 0xec, 0xf2])).toBe(true);
    expect(cspErrors).toEqual([]);
    await page.close();
  });

  it("keeps one channel's conversation off another tenant's page", async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${base}/webchat/bigcorp/prod/helpdesk/webchat`);
    await page.waitForSelector('body[data-ready="true"]');
    await page.fill('#text', 'hello');
    await page.click('button[type=submit]');
    await page.locator('#log li.bot').first().waitFor();
    // Replay the cookie against another channel: refused, and the browser would not even send it.
    const cookie = (await context.cookies())[0]!;
    const res = await fetch(`${base}/webchat/acme/prod/support/slack/history`, { headers: { cookie: `${cookie.name}=${cookie.value}` } });
    expect(res.status).toBe(404);
    const replay = await fetch(`${base}/webchat/bigcorp/prod/helpdesk/webchat/history`, { headers: { cookie: `${cookie.name}=${cookie.value}x` } });
    expect(replay.status).toBe(403);
    await context.close();
  });
});
