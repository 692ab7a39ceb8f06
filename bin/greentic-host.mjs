#!/usr/bin/env node
// The greentic-host command. The host itself is TypeScript compiled to dist/ by build.mjs.
import { existsSync } from 'node:fs';

const entry = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write('greentic-host is not built yet: run `npm run build` (or `npm start`) in its directory first\n');
  process.exit(1);
}
// A failure outside the command's own path (an error in a callback, a promise nobody awaited) is
// a bug: one line and exit 70 as for any internal error, the stack only with --debug.
const debug = process.argv.slice(2).includes('--debug') || process.env.GREENTIC_DEBUG === '1';
const crash = (e) => {
  const why = e instanceof Error ? `${e.name === 'Error' ? '' : `${e.name}: `}${e.message.split('\n')[0]}` : String(e);
  process.stderr.write(`greentic-host: internal error: ${why} (a bug: rerun with --debug for the stack, and report it)\n`);
  if (debug && e instanceof Error && e.stack) process.stderr.write(`${e.stack}\n`);
  process.exit(70);
};
process.on('uncaughtException', crash);
process.on('unhandledRejection', crash);
const { main } = await import(entry.href);
process.exitCode = await main(process.argv.slice(2));
