#!/usr/bin/env node
// The greentic-host command. The host itself is TypeScript compiled to dist/ by build.mjs.
import { existsSync } from 'node:fs';

const entry = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write('greentic-host is not built yet: run `npm run build` (or `npm start`) in its directory first\n');
  process.exit(1);
}
const { main } = await import(entry.href);
process.exitCode = await main(process.argv.slice(2));
