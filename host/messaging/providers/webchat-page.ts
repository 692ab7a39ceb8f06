import { createHash } from 'node:crypto';

/** The page's script: loads the session's transcript, then posts messages and shows the replies. */
const SCRIPT = `
const base = location.pathname.replace(/\\/$/, '');
const log = document.getElementById('log');
const form = document.getElementById('send');
const input = document.getElementById('text');
const button = form.querySelector('button');
function add(from, text) {
  const li = document.createElement('li');
  li.className = from;
  li.textContent = text;
  log.append(li);
  li.scrollIntoView({ block: 'end' });
}
async function history() {
  const r = await fetch(base + '/history', { credentials: 'same-origin' });
  if (!r.ok) return;
  const h = await r.json();
  for (const e of h.transcript) add(e.from, e.text);
}
form.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const text = input.value.trim();
  if (!text) return;
  input.value = '';
  add('user', text);
  button.disabled = true;
  try {
    const r = await fetch(base + '/messages', { method: 'POST', credentials: 'same-origin', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text }) });
    const body = await r.json();
    if (r.ok) for (const t of body.replies) add('bot', t);
    else add('error', body.error ? body.error.message : 'Something went wrong.');
  } catch {
    add('error', 'Could not reach the server.');
  } finally {
    button.disabled = false;
    input.focus();
  }
});
history().then(() => document.body.dataset.ready = 'true');
`;

const STYLE = `
*{box-sizing:border-box}body{margin:0;font:16px/1.4 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;background:#eef1f5;color:#1d2433}
.chat{max-width:640px;height:100vh;margin:0 auto;display:flex;flex-direction:column;background:#fff;box-shadow:0 0 24px rgba(0,0,0,.08)}
header{padding:16px 20px;background:#1f4e8c;color:#fff}header h1{margin:0;font-size:20px}header p{margin:4px 0 0;font-size:13px;opacity:.8}
ol{flex:1;overflow-y:auto;list-style:none;margin:0;padding:20px;display:flex;flex-direction:column;gap:10px}
li{max-width:80%;padding:10px 14px;border-radius:16px;white-space:pre-wrap;word-wrap:break-word}
li.user{align-self:flex-end;background:#1f4e8c;color:#fff;border-bottom-right-radius:4px}
li.bot{align-self:flex-start;background:#e8ecf2;border-bottom-left-radius:4px}
li.error{align-self:center;background:#fdecea;color:#8a1c12;font-size:14px}
form{display:flex;gap:8px;padding:12px;border-top:1px solid #dde3ea}
input{flex:1;padding:12px 14px;border:1px solid #c5cfdb;border-radius:24px;font:inherit}
button{padding:0 20px;border:0;border-radius:24px;background:#1f4e8c;color:#fff;font:inherit;cursor:pointer}button:disabled{opacity:.5}
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

/** The chat page of one webchat channel. */
export function webchatPage(title: string, subtitle: string): string {
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
<ol id="log" aria-live="polite"></ol>
<form id="send"><input id="text" name="text" autocomplete="off" placeholder="Type a message" maxlength="4000" aria-label="Message"><button type="submit">Send</button></form>
</main>
<script>${SCRIPT}</script>
</body>
</html>
`;
}
