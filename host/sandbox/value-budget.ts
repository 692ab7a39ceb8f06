/**
 * How much a guest may hand the host in one call: bytes of strings and lists, and list elements,
 * across its result and the arguments of every capability call it makes. Both bindings charge it
 * before they build anything from guest memory (node-abi.ts for our lean one, the rewritten jco
 * glue through `glueBounds`), so a guest's lengths and counts never size a host allocation
 * beyond the tenant's max_value_bytes and max_value_items. Past either, the call ends with node
 * error `limit-exceeded` and its instance is dropped (it may be mid-call).
 */
import type { GlueBounds } from '../components/glue-bounds.js';
import { DEFAULT_LIMITS, type Limits } from '../tenancy/model.js';

/** Live resource handles of one type an instance may hold: jco keeps each in a table and a map on the worker's heap. */
export const MAX_LIVE_HANDLES = 1000;

/** A guest handed the host more than its call's budget allows. */
export class ValueLimitError extends Error {
  override readonly name = 'ValueLimitError';
}

/** One call's budget (or, between calls, instantiation's: start-up code may write to stdout). */
export class ValueBudget {
  #bytes = 0;
  #items = 0;

  constructor(
    readonly component: string,
    readonly maxBytes: number,
    readonly maxItems: number,
  ) {}

  /** A budget for `component` under `limits`. */
  static of(component: string, limits: Pick<Limits, 'maxValueBytes' | 'maxValueItems'>): ValueBudget {
    return new ValueBudget(component, limits.maxValueBytes, limits.maxValueItems);
  }

  /** The budget outside any call: the defaults. */
  static startup(): ValueBudget {
    return ValueBudget.of('component', DEFAULT_LIMITS);
  }

  /** Charge `n` bytes of strings or lists about to be lifted. */
  bytes(n: number): void {
    this.#bytes += n;
    if (this.#bytes > this.maxBytes) {
      throw new ValueLimitError(
        `component "${this.component}" handed the host more than ${this.maxBytes} bytes of strings and lists in one call (settings.limits.max_value_bytes)`,
      );
    }
  }

  /** Charge a list of `n` elements about to be lifted. */
  items(n: number): void {
    this.#items += n;
    if (this.#items > this.maxItems) {
      throw new ValueLimitError(
        `component "${this.component}" handed the host lists of more than ${this.maxItems} elements in one call (settings.limits.max_value_items)`,
      );
    }
  }
}

const decoder = new TextDecoder();
const decoder16 = new TextDecoder('utf-16le');

/** The GlueBounds of one instance, charging whatever `budget()` returns at the time (the running call's). */
export function glueBounds(budget: () => ValueBudget): GlueBounds {
  return {
    text(view) {
      budget().bytes(view.byteLength);
      return decoder.decode(view);
    },
    text16(view) {
      budget().bytes(view.byteLength);
      return decoder16.decode(view);
    },
    slice(buffer, start, end) {
      budget().bytes(Math.max(0, end - start));
      return buffer.slice(start, end);
    },
    items(n) {
      budget().items(n);
      return 0;
    },
    createOwn(table, rep, flag) {
      const free = table[0]! & ~flag;
      if (free === 0) {
        if (table.length >> 1 > MAX_LIVE_HANDLES) {
          throw new ValueLimitError(`component "${budget().component}" holds more than ${MAX_LIVE_HANDLES} live resource handles of one type`);
        }
        table.push(0);
        table.push(rep | flag);
        return (table.length >> 1) - 1;
      }
      table[0] = table[free << 1]!;
      table[free << 1] = 0;
      table[(free << 1) + 1] = rep | flag;
      return free;
    },
  };
}
