import { createHash } from 'node:crypto';

/**
 * The page's script: loads the session's transcript, then posts messages and shows the replies
 * (text, buttons, cards: built as DOM nodes and text, never as markup), a typing indicator while
 * a turn runs, the end of a conversation, and a retry that keeps what the visitor typed.
 */
const SCRIPT = `
const base = location.pathname.replace(/\\/$/, '');
const log = document.getElementById('log');
const empty = document.getElementById('empty');
const form = document.getElementById('send');
const input = document.getElementById('text');
const button = form.querySelector('button');
const SPEAKER = { user: 'You said:', bot: 'Assistant said:', error: 'Problem:', end: '' };
function el(tag, className, text) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}
function item(from) {
  empty.hidden = true;
  const li = el('li', from);
  if (SPEAKER[from]) li.append(el('span', 'sr', SPEAKER[from] + ' '));
  log.append(li);
  return li;
}
function show(li) {
  li.scrollIntoView({ block: 'end' });
  return li;
}
function choices(li, list) {
  if (!list || !list.length) return;
  const row = el('div', 'choices');
  for (const c of list) {
    const b = el('button', 'choice', c.title);
    b.type = 'button';
    b.addEventListener('click', () => send(c.value || c.title));
    row.append(b);
  }
  li.append(row);
}
function card(li, c) {
  const box = el('div', 'card');
  for (const part of c.body) {
    if (part.type === 'TextBlock') box.append(el('p', 'tb ' + (part.weight || '') + ' ' + (part.size || ''), part.text));
    else if (part.type === 'FactSet') {
      const dl = el('dl');
      for (const f of part.facts) dl.append(el('dt', '', f.title), el('dd', '', f.value));
      box.append(dl);
    }
  }
  li.append(box);
  choices(li, (c.actions || []).map((a) => ({ title: a.title, value: a.data })));
}
function addUser(text) {
  const li = item('user');
  li.append(el('span', 'text', text));
  return show(li);
}
function addBot(m) {
  const li = item('bot');
  if (m.text) li.append(el('span', 'text', m.text));
  if (m.card) card(li, m.card);
  choices(li, m.buttons);
  return show(li);
}
function addEnd() {
  const li = item('end');
  li.setAttribute('role', 'note');
  li.textContent = 'Conversation ended. Send a message to start a new one.';
  return show(li);
}
function addError(text, retry) {
  const li = item('error');
  li.setAttribute('role', 'alert');
  li.append(el('span', 'text', text));
  if (retry) {
    const b = el('button', 'retry', 'Retry');
    b.type = 'button';
    b.addEventListener('click', () => { li.remove(); retry(); });
    li.append(b);
  }
  return show(li);
}
let busy = false;
async function send(text, bubble) {
  if (busy) return;
  busy = true;
  button.disabled = true;
  const mine = bubble || addUser(text);
  mine.classList.remove('failed');
  const typing = show(item('typing'));
  typing.setAttribute('role', 'status');
  typing.setAttribute('aria-label', 'The assistant is typing');
  typing.append(el('span', 'dot'), el('span', 'dot'), el('span', 'dot'));
  let failure = null;
  try {
    const r = await fetch(base + '/messages', { method: 'POST', credentials: 'same-origin', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text }) });
    const body = await r.json().catch(() => ({}));
    typing.remove();
    if (r.ok) {
      for (const m of body.messages || body.replies.map((t) => ({ text: t }))) addBot(m);
      if (body.ended) addEnd();
    } else failure = (body.error && body.error.message) || 'Sorry, something went wrong. Please try again.';
  } catch {
    typing.remove();
    failure = 'Could not reach the chat. Check your connection and try again.';
  } finally {
    busy = false;
    button.disabled = false;
  }
  if (failure) {
    // What the visitor typed is kept: in the failed bubble, in the input, and behind Retry.
    mine.classList.add('failed');
    if (!input.value) input.value = text;
    addError(failure, () => { if (input.value === text) input.value = ''; send(text, mine); });
  }
  input.focus();
}
async function history() {
  const r = await fetch(base + '/history', { credentials: 'same-origin' });
  if (!r.ok) return;
  const h = await r.json();
  for (const e of h.transcript) e.from === 'user' ? addUser(e.text) : addBot(e);
  if (h.ended) addEnd();
}
form.addEventListener('submit', (ev) => {
  ev.preventDefault();
  const text = input.value.trim();
  if (!text || busy) return;
  input.value = '';
  send(text);
});
history().finally(() => document.body.dataset.ready = 'true');
`;

const STYLE = `
*{box-sizing:border-box}body{margin:0;font:16px/1.4 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;background:#eef1f5;color:#1d2433}
.chat{max-width:640px;height:100vh;margin:0 auto;display:flex;flex-direction:column;background:#fff;box-shadow:0 0 24px rgba(0,0,0,.08)}
header{padding:16px 20px;background:#1f4e8c;color:#fff}header h1{margin:0;font-size:20px}header p{margin:4px 0 0;font-size:13px;opacity:.8}
.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
#empty{margin:auto;padding:24px;text-align:center;color:#5b6678}
ol{flex:1;overflow-y:auto;list-style:none;margin:0;padding:20px;display:flex;flex-direction:column;gap:10px}
ol:empty{display:none}
li{max-width:80%;padding:10px 14px;border-radius:16px;white-space:pre-wrap;word-wrap:break-word}
li.user{align-self:flex-end;background:#1f4e8c;color:#fff;border-bottom-right-radius:4px}li.user.failed{opacity:.6}
li.bot{align-self:flex-start;background:#e8ecf2;border-bottom-left-radius:4px}
li.error{align-self:center;background:#fdecea;color:#8a1c12;font-size:14px;display:flex;gap:10px;align-items:center}
li.end{align-self:center;max-width:100%;color:#5b6678;font-size:13px;border-top:1px solid #dde3ea;border-radius:0;padding:8px 24px 0}
li.typing{align-self:flex-start;background:#e8ecf2;display:flex;gap:4px;padding:14px}
.dot{width:8px;height:8px;border-radius:50%;background:#7a8699;animation:blink 1.2s infinite}.dot:nth-child(2){animation-delay:.2s}.dot:nth-child(3){animation-delay:.4s}
@keyframes blink{0%,80%,100%{opacity:.3}40%{opacity:1}}
@media (prefers-reduced-motion:reduce){.dot{animation:none}}
.card{margin-top:6px;padding:10px 12px;background:#fff;border:1px solid #d3dae4;border-radius:10px}.card p{margin:0 0 6px}
.tb.bolder{font-weight:600}.tb.medium{font-size:18px}.tb.large{font-size:20px}
dl{display:grid;grid-template-columns:auto 1fr;gap:2px 12px;margin:0;font-size:14px}dt{font-weight:600}dd{margin:0}
.choices{display:flex;flex-wrap:wrap;gap:6px;margin-top:8px}
.choice,.retry{padding:6px 12px;border:1px solid #1f4e8c;border-radius:16px;background:#fff;color:#1f4e8c;font:inherit;font-size:14px;cursor:pointer}
form{display:flex;gap:8px;padding:12px;border-top:1px solid #dde3ea}
input{flex:1;padding:12px 14px;border:1px solid #c5cfdb;border-radius:24px;font:inherit}
form button{padding:0 20px;border:0;border-radius:24px;background:#1f4e8c;color:#fff;font:inherit;cursor:pointer}form button:disabled{opacity:.5}
`;

/** The Content-Security-Policy of the page: only its own inline script and style, only same-origin requests. */
export const WEBCHAT_PAGE_CSP = [
  "default-src 'none'",
  `script-src 'sha256-${createHash('sha256').update(SCRIPT).digest('base64')}'`,
  `style-src 'sha256-${createHash('sha256').update(STYLE).digest('base64')}'`,
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** The chat page of one webchat channel; `hint` shows until the conversation starts. */
export function webchatPage(title: string, subtitle: string, hint = 'Say hello to start the conversation.'): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>${STYLE}</style>
</head>
<body>
<main class="chat">
<header><h1>${escapeHtml(title)}</h1><p>${escapeHtml(subtitle)}</p></header>
<p id="empty">${escapeHtml(hint)}</p>
<ol id="log" role="log" aria-live="polite" aria-label="Conversation"></ol>
<form id="send"><input id="text" name="text" autocomplete="off" placeholder="Type a message" maxlength="4000" aria-label="Message"><button type="submit">Send</button></form>
</main>
<script>${SCRIPT}</script>
</body>
</html>
`;
}
