import { componentBuildCommand } from './component-build.js';
import { componentNewCommand } from './component-new.js';
import { UsageError, type CommandIo } from './usage.js';

export const COMPONENT_HELP = `Usage: greentic-host component new NAME [--dir DIR]
       greentic-host component build DIR

Write your own flow node components (for plugin authors).

  new NAME     scaffold a JS component in DIR (default ./NAME): source, manifest, editor
               types for the WIT contract, a test, a README
  build DIR    build DIR's manifest source into DIR/dist/NAME.wasm and print its sha256

Then try it with greentic-host call DIR/dist/NAME.wasm, and install it in a tenant's bundle
(tenants/<tenant>/components/NAME/). greentic-host component new|build --help for details.`;

/** `greentic-host component new|build`. */
export async function componentCommand(argv: string[], io: CommandIo): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === '-h' || sub === '--help') {
    io.out(COMPONENT_HELP);
    return 0;
  }
  if (sub === 'new') return componentNewCommand(rest, io);
  if (sub === 'build') return componentBuildCommand(rest, io);
  throw new UsageError(sub === undefined ? 'expected new or build' : `expected new or build, got ${JSON.stringify(sub)}`);
}
