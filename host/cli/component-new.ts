import { existsSync, readdirSync, statSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { guestTypesInChildProcess } from '../components/build-runner.js';
import { ComponentBuildError, NODE_WORLD } from '../components/builder.js';
import { scaffoldFiles } from '../components/scaffold.js';
import { BUILTIN_SOURCE_DIR, WIT_DIR } from '../paths.js';
import { ID_PATTERN_TEXT } from '../tenancy/ids.js';
import { CommandFailed, HELP_FLAG, idArgument, parsingFlags, UsageError, type CommandIo } from './usage.js';

export const COMPONENT_NEW_HELP = `Usage: greentic-host component new NAME [--dir DIR]

Scaffold a JS component named NAME (${ID_PATTERN_TEXT}) in DIR:
  src/NAME.js            the component: exports node.invoke(ctx, input), uses state and messaging
  manifest.yaml          what it needs: capabilities, limits, config_schema
  types/, jsconfig.json  TypeScript declarations of the ${NODE_WORLD} world, for your editor
  test/NAME.test.mjs     a node:test test running the built component through greentic-host call
  package.json           npm run build and npm test (they run greentic-host from PATH)
  README.md              how to build, try, test and install it

Nothing in DIR names a path of this machine: it works wherever it is moved.

DIR must not exist, or be empty. Next: greentic-host component build DIR.

Options:
  --dir DIR    where to create it                          (default: ./NAME)
  -h, --help   this help

Exit codes: 0 created, 1 DIR is not empty or cannot be written, 2 bad usage.`;

/** `greentic-host component new NAME [--dir DIR]`. */
export async function componentNewCommand(argv: string[], io: CommandIo): Promise<number> {
  const { values, positionals } = parsingFlags(() =>
    parseArgs({ args: argv, options: { ...HELP_FLAG, dir: { type: 'string' } }, allowPositionals: true, strict: true }),
  );
  if (values.help) {
    io.out(COMPONENT_NEW_HELP);
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError(positionals.length === 0 ? 'missing the component NAME' : 'expected one NAME');
  const name = idArgument('component', positionals[0], 'NAME');
  if (values.dir === '') throw new UsageError('--dir is empty');
  const shown = values.dir ?? name;
  const dir = resolve(shown);
  refuseNonEmpty(dir, shown);

  let types: Record<string, string>;
  try {
    types = await guestTypesInChildProcess(WIT_DIR, NODE_WORLD);
  } catch (e) {
    if (e instanceof ComponentBuildError) throw new CommandFailed(e.message);
    throw e;
  }
  const files = scaffoldFiles({ name, types });
  try {
    for (const [rel, text] of Object.entries(files)) {
      const file = join(dir, rel);
      await mkdir(dirname(file), { recursive: true });
      // wx: never overwrite, even a file created since the check above.
      await writeFile(file, text, { flag: 'wx' });
    }
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new CommandFailed(`cannot write ${err.path ?? shown}: ${err.code ?? err.message}`);
  }

  const at = shown.replace(/\/+$/, '');
  if (existsSync(join(BUILTIN_SOURCE_DIR, name))) {
    io.err(`note: "${name}" is the name of a built-in component; to install it in a tenant's bundle, give it another name`);
  }
  io.out(`created component ${name} in ${at}/`);
  io.out(`  src/${name}.js`.padEnd(36) + 'the component: edit this');
  io.out('  manifest.yaml'.padEnd(36) + 'what it needs: capabilities, limits, config_schema');
  io.out('  types/, jsconfig.json'.padEnd(36) + `editor types for ${NODE_WORLD}`);
  io.out(`  test/${name}.test.mjs`.padEnd(36) + 'runs the built component through greentic-host call');
  io.out('  package.json'.padEnd(36) + 'npm run build, npm test (greentic-host on PATH: npm link in its checkout)');
  io.out('  README.md');
  io.out('next:');
  io.out(`  greentic-host component build ${at}`);
  io.out(`  greentic-host call ${at}/dist/${name}.wasm --tenant acme --env prod --input hi --config '{"greeting":"Hello"}'`);
  io.out(`  cd ${at} && npm test`);
  return 0;
}

/** A folder with something in it is the author's work: never scaffold over it. */
function refuseNonEmpty(dir: string, shown: string): void {
  if (!existsSync(dir)) return;
  if (!statSync(dir).isDirectory()) throw new CommandFailed(`${shown} exists and is not a directory; choose another --dir`);
  if (readdirSync(dir).length > 0) throw new CommandFailed(`${shown} already exists and is not empty; choose another --dir (nothing was written)`);
}
