/**
 * The adapter of a Greentic ABI over an instance's exports (jco's, versioned names first). An
 * instance whose exports do not hold what its ABI needs fails to instantiate, with what is missing.
 */
import type { ValueBudget } from '../sandbox/value-budget.js';
import { EXPORT_PATTERNS, exportOf, type GreenticAbi, type GreenticAbiAdapter } from './abi.js';
import { Node05Adapter } from './abi-node-05.js';
import { Node06Adapter } from './abi-node-06.js';
import { Runtime061Adapter, type Runtime061Exports } from './abi-runtime-061.js';
import { V0V6Adapter, type V0V6Exports } from './abi-v0-v6.js';

/** The name a worker gives a component in what its adapter says (the flow's name of it is added by the main thread). */
const NAME = 'component';

export function greenticAdapter(abi: GreenticAbi, exports: Record<string, unknown>, budget: () => ValueBudget): GreenticAbiAdapter {
  const pick = <T>(pattern: RegExp, bare: string) => exportOf<T>(exports, pattern, bare);
  switch (abi) {
    case 'node-0.6': {
      const node = pick<unknown>(EXPORT_PATTERNS.NODE_06, 'node');
      if (!Node06Adapter.usable(node)) throw new Error('it exports greentic:component/node@0.6 without an invoke function');
      return new Node06Adapter(node, NAME, budget);
    }
    case 'node-0.5': {
      const node = pick<unknown>(EXPORT_PATTERNS.NODE_05, 'node');
      if (!Node05Adapter.usable(node)) throw new Error('it exports greentic:component/node@0.5 without get-manifest and invoke');
      return new Node05Adapter(node, NAME, budget);
    }
    case 'v0-v6': {
      const runtime = pick<V0V6Exports['runtime']>(EXPORT_PATTERNS.V0V6_RUNTIME, 'componentRuntime');
      if (typeof runtime?.run !== 'function') throw new Error('it exports greentic:component/component-runtime@0.6 without run');
      return new V0V6Adapter(
        {
          runtime,
          descriptor: pick(/^greentic:component\/component-descriptor@0\.6\.\d+$/, 'componentDescriptor'),
          schema: pick(/^greentic:component\/component-schema@0\.6\.\d+$/, 'componentSchema'),
          qa: pick(/^greentic:component\/component-qa@0\.6\.\d+$/, 'componentQa'),
          i18n: pick(/^greentic:component\/component-i18n@0\.6\.\d+$/, 'componentI18n'),
        },
        NAME,
        budget,
      );
    }
    case 'runtime-0.6.1': {
      const x: Runtime061Exports = {
        runtime: pick(EXPORT_PATTERNS.RUNTIME_061, 'runtime'),
        descriptor: pick(/^greentic:component\/descriptor@0\.6\.\d+$/, 'descriptor'),
        qa: pick(/^greentic:component\/qa@0\.6\.\d+$/, 'qa'),
        i18n: pick(/^greentic:component\/component-i18n@0\.6\.\d+$/, 'componentI18n'),
        schemaCore: pick(EXPORT_PATTERNS.SCHEMA_CORE, 'schemaCoreApi'),
      };
      if (typeof x.runtime?.invoke !== 'function' && typeof x.schemaCore?.invoke !== 'function') {
        throw new Error('it exports neither greentic:component/runtime@0.6.1 invoke nor schema-core-api invoke');
      }
      return new Runtime061Adapter(x, NAME, budget);
    }
  }
}
