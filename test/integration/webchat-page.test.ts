import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser, type Page } from 'playwright-core';
import type { FastifyInstance } from 'fastify';
import { createHttpServer } from '../../dist/api/server.js';
import { copyExamples, replaceExactly, ROOT, writeFiles } from '../support/bundle.js';
import { startHost, type TestHost } from '../support/host.js';
import { decodePng } from '../support/png.js';

/** Debian's chromium (`apt-get install chromium`; .ci/run installs it). */
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
let t: TestHost;
let app: FastifyInstance;
let base: string;
let browser: Browser;
const bundle = copyExamples();

beforeAll(async () => {
  if (!existsSync(CHROMIUM))
    throw new Error(`no Chromium at ${CHROMIUM}: install Debian's chromium package (apt-get install -y chromium) or set CHROMIUM_PATH`);
  // bigcorp's helpdesk gets two more webchat channels: one whose flow sends buttons and a card,
  // one whose flow does not load (a visitor must never read why).
  const bundleYaml = readFileSync(join(bundle.dir, 'bundle.yaml'), 'utf8');
  writeFiles(bundle.dir, {
    'bundle.yaml': replaceExactly(
      bundleYaml,
      '              title: "BigCorp Helpdesk"',
      [
        '              title: "BigCorp Helpdesk"',
        '          demo: { provider: webchat, flow: bigcorp_demo_flow, title: BigCorp Helpdesk }',
        '          broken: { provider: webchat, flow: bigcorp_broken_flow, title: BigCorp Helpdesk }',
      ].join('\n'),
    ),
    'tenants/bigcorp/flows/bigcorp_demo_flow.yaml': {
      name: 'bigcorp_demo_flow',
      version: '1',
      start: 'offer',
      nodes: [
        { id: 'offer', type: 'reply', config: { message: JSON.stringify(OFFER) }, next: 'choose' },
        { id: 'choose', type: 'ask', config: { save_as: 'choice' }, next: 'done' },
        { id: 'done', type: 'reply', config: { message: JSON.stringify(TICKET), end: true } },
      ],
    },
    'tenants/bigcorp/flows/bigcorp_broken_flow.yaml': { name: 'bigcorp_broken_flow', version: '1', start: 'x', nodes: [{ id: 'x', type: 'nosuch' }] },
  });
  t = await startHost({ bundleDir: bundle.dir });
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
  bundle.cleanup();
});

const OFFER = {
  type: 'webchat.message',
  text: 'How would you like to continue?',
  buttons: [{ title: 'Talk to a person', value: 'agent' }, { title: 'Keep going' }],
};
const TICKET = {
  type: 'webchat.message',
  text: 'A person will call you back.',
  card: {
    type: 'AdaptiveCard',
    body: [
      { type: 'TextBlock', text: 'Ticket 4711', weight: 'bolder', size: 'medium' },
      {
        type: 'FactSet',
        facts: [
          { title: 'Status', value: 'open' },
          { title: 'Queue', value: 'callback' },
        ],
      },
    ],
    actions: [{ type: 'Action.Submit', title: 'Start over', data: 'hi' }],
  },
};
/** What a bubble says, without its screen-reader label. */
const said = (page: Page, sel: string) => page.locator(`${sel} > .text`).allTextContents();

describe('the webchat page, in a real browser', () => {
  it('holds a conversation that survives a reload, and looks like a chat', async () => {
    const page = await browser.newPage({ viewport: { width: 800, height: 700 } });
    const cspErrors: string[] = [];
    page.on('console', (m) => m.type() === 'error' && cspErrors.push(m.text()));
    const url = `${base}/webchat/bigcorp/prod/helpdesk/webchat`;
    await page.goto(url);
    await page.waitForSelector('body[data-ready="true"]');
    expect(await page.title()).toBe('BigCorp Helpdesk');
    // The empty state: a hint, no messages yet.
    expect(await page.locator('#empty').isVisible()).toBe(true);
    expect(await page.locator('#empty').textContent()).toBe('Say hello to start the conversation.');

    const bot = page.locator('#log li.bot');
    await page.fill('#text', 'hi');
    await page.click('button[type=submit]');
    await bot.first().waitFor();
    expect(await page.locator('#empty').isVisible()).toBe(false);
    expect(await bot.first().textContent()).toBe("Assistant said: BigCorp Helpdesk here. What's your issue?");
    expect(await page.locator('#log li.user').first().textContent()).toBe('You said: hi');
    await page.fill('#text', 'the wifi is down again');
    await page.press('#text', 'Enter');
    await bot.nth(1).waitFor();
    expect(await said(page, '#log li.bot')).toEqual([
      "BigCorp Helpdesk here. What's your issue?",
      'Network trouble noted. Try reconnecting to the VPN; an engineer will follow up on "the wifi is down again".',
    ]);
    // That reply ended the flow: the end-of-conversation marker.
    const end = 'Conversation ended. Send a message to start a new one.';
    expect(await page.locator('#log li.end').allTextContents()).toEqual([end]);

    // Reload: the session cookie brings the conversation back, its end included.
    await page.reload();
    await page.waitForSelector('body[data-ready="true"]');
    expect(await page.locator('#log li').allTextContents()).toEqual([
      'You said: hi',
      "Assistant said: BigCorp Helpdesk here. What's your issue?",
      'You said: the wifi is down again',
      'Assistant said: Network trouble noted. Try reconnecting to the VPN; an engineer will follow up on "the wifi is down again".',
      end,
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
    // Replay the cookie against another channel: never followed (and the browser would not even send it).
    const cookie = (await context.cookies())[0]!;
    const res = await fetch(`${base}/webchat/acme/prod/support/slack/history`, { headers: { cookie: `${cookie.name}=${cookie.value}` } });
    expect(res.status).toBe(404);
    for (const path of ['/webchat/bigcorp/prod/helpdesk/demo', '/webchat/bigcorp/prod/helpdesk/webchat']) {
      const replay = await fetch(`${base}${path}/history`, { headers: { cookie: `${cookie.name}=${cookie.value}${path.endsWith('webchat') ? 'x' : ''}` } });
      expect([replay.status, await replay.json()]).toEqual([200, { session: null, transcript: [], ended: false }]);
    }
    await context.close();
  });

  it('across a data reset: a cookie the channel did not issue starts a fresh session with a new cookie', async () => {
    const context = await browser.newContext();
    // What a browser holds after the data directory (and so the cookie key) was replaced.
    const stale = 'v1.w0123456789abcdef0123456789abcdef.c3RhbGUtbWFjLW9mLWFub3RoZXIta2V5LXh4eHh4eHh4eA';
    await context.addCookies([{ name: 'greentic_webchat', value: stale, url: `${base}/webchat/bigcorp/prod/helpdesk/webchat` }]);
    const page = await context.newPage();
    await page.goto(`${base}/webchat/bigcorp/prod/helpdesk/webchat`);
    await page.waitForSelector('body[data-ready="true"]');
    expect(await page.locator('#empty').isVisible()).toBe(true);
    await page.fill('#text', 'hi');
    await page.press('#text', 'Enter');
    await page.locator('#log li.bot').first().waitFor();
    expect(await said(page, '#log li.bot')).toEqual(["BigCorp Helpdesk here. What's your issue?"]);
    const [cookie] = await context.cookies();
    expect(cookie!.value).not.toBe(stale);
    expect(cookie!.value).toMatch(/^v1\.w[0-9a-f]{32}\./);
    expect(t.logs.lines.filter((l) => l.event === 'webchat-cookie-replaced').at(-1)).toMatchObject({
      tenant_id: 'bigcorp',
      env_id: 'prod',
      team_id: 'helpdesk',
      channel: 'webchat',
    });
    await context.close();
  });

  it('shows buttons and a card, a typing indicator while the turn runs, and the end', async () => {
    const page = await browser.newPage({ viewport: { width: 800, height: 700 } });
    const cspErrors: string[] = [];
    page.on('console', (m) => m.type() === 'error' && cspErrors.push(m.text()));
    await page.goto(`${base}/webchat/bigcorp/prod/helpdesk/demo`);
    await page.waitForSelector('body[data-ready="true"]');
    // Hold the turn's request until the typing indicator has been seen.
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    await page.route('**/messages', async (route) => {
      await held;
      await route.continue();
    });
    await page.fill('#text', 'hello');
    await page.press('#text', 'Enter');
    const typing = page.locator('#log li.typing');
    await typing.waitFor();
    expect(await typing.getAttribute('aria-label')).toBe('The assistant is typing');
    expect(await page.locator('button[type=submit]').isDisabled()).toBe(true);
    release();
    await page.locator('#log li.bot .choice').first().waitFor();
    expect(await typing.count()).toBe(0);
    expect(await said(page, '#log li.bot')).toEqual(['How would you like to continue?']);
    expect(await page.locator('#log li.bot .choice').allTextContents()).toEqual(['Talk to a person', 'Keep going']);
    // A button sends its value as the visitor's message.
    await page.locator('#log li.bot .choice', { hasText: 'Talk to a person' }).click();
    await page.locator('#log li.bot .card').waitFor();
    expect(await said(page, '#log li.user')).toEqual(['hello', 'agent']);
    expect(await page.locator('.card .tb').allTextContents()).toEqual(['Ticket 4711']);
    expect(await page.locator('.card dt').allTextContents()).toEqual(['Status', 'Queue']);
    expect(await page.locator('.card dd').allTextContents()).toEqual(['open', 'callback']);
    expect(await page.locator('#log li.bot .choice').nth(2).textContent()).toBe('Start over');
    expect(await page.locator('#log li.end').count()).toBe(1);
    mkdirSync(join(ROOT, 'docs'), { recursive: true });
    writeFileSync(join(ROOT, 'docs', 'webchat.png'), await page.screenshot());
    expect(cspErrors).toEqual([]);
    await page.close();
  });

  it('keeps what the visitor typed when a send fails, offers Retry, and never shows operator text', async () => {
    const page = await browser.newPage({ viewport: { width: 800, height: 500 } });
    await page.goto(`${base}/webchat/bigcorp/prod/helpdesk/broken`);
    await page.waitForSelector('body[data-ready="true"]');
    await page.fill('#text', 'my printer is on fire');
    await page.press('#text', 'Enter');
    const error = page.locator('#log li.error');
    await error.waitFor();
    // The flow did not load: the visitor reads an apology, the operator the reason in the log.
    expect(await error.locator('.text').textContent()).toBe('Sorry, this chat cannot answer right now. Please try again later.');
    expect(await page.content()).not.toContain('bigcorp_broken_flow');
    expect(t.logs.lines.filter((l) => l.event === 'webchat-turn-failed').at(-1)).toMatchObject({
      tenant_id: 'bigcorp',
      channel: 'broken',
      reason: expect.stringContaining('bigcorp_broken_flow'),
    });
    expect(await page.inputValue('#text')).toBe('my printer is on fire');
    expect(await page.locator('#log li.user.failed').count()).toBe(1);
    writeFileSync(join(ROOT, 'docs', 'webchat-retry.png'), await page.screenshot());

    // Offline, then back: Retry sends the same text again, once.
    await page.goto(`${base}/webchat/bigcorp/prod/helpdesk/webchat`);
    await page.waitForSelector('body[data-ready="true"]');
    await page.route('**/messages', (route) => route.abort('internetdisconnected'));
    await page.fill('#text', 'hi');
    await page.press('#text', 'Enter');
    await error.waitFor();
    expect(await error.locator('.text').textContent()).toBe('Could not reach the chat. Check your connection and try again.');
    expect(await page.inputValue('#text')).toBe('hi');
    await page.unroute('**/messages');
    await error.locator('button.retry').click();
    await page.locator('#log li.bot').first().waitFor();
    expect(await error.count()).toBe(0);
    expect(await said(page, '#log li.user')).toEqual(['hi']);
    expect(await page.locator('#log li.user.failed').count()).toBe(0);
    expect(await page.inputValue('#text')).toBe('');
    await page.close();
  });
});
