/**
 * The tenant's limits on what a component's core modules may declare, checked at load, before
 * anything is compiled. Counts are summed over the component's core modules, each of which a
 * worker instantiates once per instance (worker-instances.ts refuses a second instantiation),
 * so the sums bound what one instance makes V8 allocate.
 */
import type { ModuleLimits } from '../tenancy/model.js';
import { emptyModuleFootprint, type ModuleFootprint } from './core-module.js';

/** What all the core modules of one component declare together, and the component's own size. */
export interface ComponentFootprint extends ModuleFootprint {
  /** The component file's size. */
  bytes: number;
  coreModules: number;
}

type Counted = Exclude<keyof ModuleLimits, 'tableElements' | 'heapMib'>;

/** Each limit: the footprint field it bounds, its key under settings.limits.module, and how a refusal says it. */
const CHECKS: ReadonlyArray<readonly [Counted, string, (n: number) => string]> = [
  ['bytes', 'bytes', (n) => `is ${n} bytes`],
  ['coreModules', 'core_modules', (n) => `has ${n} core modules`],
  ['memories', 'memories', (n) => `declares ${n} memories`],
  ['tables', 'tables', (n) => `declares ${n} tables`],
  ['globals', 'globals', (n) => `declares ${n} globals`],
  ['tags', 'tags', (n) => `declares ${n} exception tags`],
  ['functions', 'functions', (n) => `declares ${n} functions`],
  ['codeBytes', 'code_bytes', (n) => `declares ${n} bytes of code`],
  ['dataSegments', 'data_segments', (n) => `declares ${n} data segments`],
  ['dataBytes', 'data_bytes', (n) => `declares ${n} bytes of data segments`],
  ['elementSegments', 'element_segments', (n) => `declares ${n} element segments`],
  ['elements', 'elements', (n) => `declares ${n} elements in element segments`],
  ['types', 'types', (n) => `declares ${n} types`],
  ['imports', 'imports', (n) => `declares ${n} core imports`],
  ['exports', 'exports', (n) => `declares ${n} core exports`],
];

/** An empty footprint for a component of `bytes` bytes with `coreModules` core modules. */
export function emptyFootprint(bytes: number, coreModules: number): ComponentFootprint {
  return { bytes, coreModules, ...emptyModuleFootprint() };
}

/** Add one core module's counts to a component's. */
export function addFootprint(total: ComponentFootprint, module: ModuleFootprint): void {
  for (const k of Object.keys(module) as Array<keyof ModuleFootprint>) total[k] += module[k];
}

/**
 * V8 heap one instance takes per item it declares, in bytes: what test/isolation/README.md
 * records measuring Node 20 and 26 (a funcref table entry 16-24, counted twice for the copy
 * `table.grow` makes; an import 58-93; an exported global 114; a function in a table 47-62),
 * rounded up.
 */
const HEAP_BYTES_PER = {
  tableSlot: 48,
  function: 64,
  import: 128,
  export: 128,
  global: 128,
  tag: 64,
  element: 64,
  elementSegment: 64,
  dataSegment: 16,
  type: 64,
};

/**
 * The V8 heap an instance of a component with `fp` can take for what its modules declare, its
 * tables grown to their maximum: linear memory is not in it (it is outside the heap, capped by
 * memory_mib). Workers budget their warm instances by it.
 */
export function instanceHeapBytes(fp: ModuleFootprint): number {
  const p = HEAP_BYTES_PER;
  return (
    fp.tableSlots * p.tableSlot +
    fp.functions * p.function +
    fp.imports * p.import +
    fp.exports * p.export +
    fp.globals * p.global +
    fp.tags * p.tag +
    fp.elements * p.element +
    fp.elementSegments * p.elementSegment +
    fp.dataSegments * p.dataSegment +
    fp.types * p.type
  );
}

/**
 * Why a component with `footprint` exceeds `limits` (the first limit it breaks, as the end of a
 * sentence that starts with the component's name), or undefined when it fits.
 */
export function footprintRefusal(footprint: ComponentFootprint, limits: ModuleLimits): string | undefined {
  for (const [field, key, says] of CHECKS) {
    if (footprint[field] > limits[field]) return `${says(footprint[field])}, more than the ${limits[field]} allowed (settings.limits.module.${key})`;
  }
  const heap = instanceHeapBytes(footprint);
  if (heap > limits.heapMib * MiB) {
    return `would take about ${Math.ceil(heap / MiB)} MiB of engine heap per instance (its tables at their maximum, functions, globals, imports and exports), more than the ${limits.heapMib} MiB allowed (settings.limits.module.heap_mib)`;
  }
  return undefined;
}

const MiB = 1024 * 1024;
