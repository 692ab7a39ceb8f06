/**
 * The WASI a guest instance sees: per instance, never preview2-shim's process-wide defaults
 * (its _setEnv/_setPreopens/... are never called). Built inside the guest worker.
 *
 * - wasi:cli/environment: no variables, no arguments, no working directory.
 * - wasi:cli/stdin: closed. wasi:cli/stdout and stderr: lines into the tenant's log (bounded),
 *   through GuestOutput; the host's own stdout/stderr are never written.
 * - wasi:cli/exit: ends the call (GuestExit), never the worker or the host.
 * - wasi:cli/terminal-*: not a terminal.
 * - wasi:filesystem/preopens: no directories, so wasi:filesystem/types can reach nothing.
 * - wasi:sockets: network disabled; wasi:http/outgoing-handler: every request denied.
 * - wasi:clocks, wasi:random, wasi:io: preview2-shim's.
 * Only interfaces in `granted` are supplied; jco's glue refuses to instantiate a component
 * missing one, and each interface object records the functions the glue asked for but we lack.
 */

import { TextDecoder } from 'node:util';

/** Thrown by wasi:cli/exit: the guest asked to stop. It ends the call with a `guest-exit` node error. */
export class GuestExit extends Error {
  override readonly name = 'GuestExit';
  constructor(readonly status: string) {
    super(`the component called exit (${status})`);
  }
}

/** Most bytes of stdout and stderr together one call may put into the log. */
export const MAX_GUEST_OUTPUT_BYTES = 64 * 1024;
/** Longest line kept; the rest of it is cut off with a marker. */
export const MAX_GUEST_LINE = 8 * 1024;
/** Most lines one call may log (a stream of empty lines is cheap to write, not to log). */
export const MAX_GUEST_LINES = 1000;

export type GuestStream = 'stdout' | 'stderr';
/** Where whole lines of a guest's stdout and stderr go. */
export type GuestLineSink = (stream: GuestStream, line: string) => void;

/** Where one instance's stdout and stderr go during the current call: whole lines, bounded per call (bytes and lines). */
export class GuestOutput {
  #emit: GuestLineSink | undefined;
  #bytes = 0;
  #lines = 0;
  #cut = false;
  readonly #partial: Record<GuestStream, string> = { stdout: '', stderr: '' };
  readonly #decoders: Record<GuestStream, TextDecoder> = { stdout: new TextDecoder(), stderr: new TextDecoder() };

  /** Start a call: lines go to `emit` until end(). */
  begin(emit: GuestLineSink): void {
    this.#emit = emit;
    this.#bytes = 0;
    this.#lines = 0;
    this.#cut = false;
  }

  /** End the call: a last unterminated line is emitted too. */
  end(): void {
    for (const stream of ['stdout', 'stderr'] as const) {
      const rest = this.#partial[stream] + this.#decoders[stream].decode();
      this.#partial[stream] = '';
      if (rest.length > 0) this.#line(stream, rest);
    }
    this.#emit = undefined;
  }

  write(stream: GuestStream, bytes: Uint8Array): void {
    if (this.#bytes + bytes.byteLength > MAX_GUEST_OUTPUT_BYTES) return this.#cutOff(stream, `${MAX_GUEST_OUTPUT_BYTES} bytes`);
    this.#bytes += bytes.byteLength;
    const lines = (this.#partial[stream] + this.#decoders[stream].decode(bytes, { stream: true })).split('\n');
    this.#partial[stream] = lines.pop()!;
    for (const line of lines) this.#line(stream, line);
    // A line longer than the limit is emitted in pieces rather than held.
    while (this.#partial[stream].length > MAX_GUEST_LINE) {
      this.#line(stream, this.#partial[stream]);
      this.#partial[stream] = '';
    }
  }

  #cutOff(stream: GuestStream, limit: string): void {
    if (!this.#cut) this.#emit?.(stream, `[guest output cut at ${limit} in this call]`);
    this.#cut = true;
  }

  #line(stream: GuestStream, line: string): void {
    if (this.#cut) return;
    if (++this.#lines > MAX_GUEST_LINES) return this.#cutOff(stream, `${MAX_GUEST_LINES} lines`);
    const text = line.length > MAX_GUEST_LINE ? `${line.slice(0, MAX_GUEST_LINE)}... [cut at ${MAX_GUEST_LINE} characters]` : line.replace(/\r$/, '');
    this.#emit?.(stream, text);
  }
}

type ShimInterface = Record<string, unknown>;
type Ctor = new () => object;

/** The per-instance import object for the `granted` WASI interfaces (unversioned names). */
export async function wasiImports(granted: Iterable<string>, output: GuestOutput, missing: string[]): Promise<Record<string, unknown>> {
  const wanted = [...granted];
  if (wanted.length === 0) return {};
  const { WASIShim } = await import('@bytecodealliance/preview2-shim/instantiation');
  const shim = new WASIShim({ sandbox: { preopens: {}, env: {}, args: [], enableNetwork: false } }).getImportObject() as unknown as Record<
    string,
    ShimInterface
  >;
  const overrides = sandboxOverrides(shim, output);
  const imports: Record<string, unknown> = {};
  for (const iface of wanted) {
    const value = overrides[iface] ?? shim[iface];
    if (value !== undefined) imports[iface] = recordingMissing(iface, value, missing);
  }
  return imports;
}

/** The glue destructures what it needs from each interface; note what is absent, to name it if instantiation fails. */
function recordingMissing(iface: string, target: ShimInterface, missing: string[]): ShimInterface {
  return new Proxy(target, {
    get(t, key, receiver) {
      const value: unknown = Reflect.get(t, key, receiver);
      if (value === undefined && typeof key === 'string' && !missing.includes(`${iface}#${key}`)) missing.push(`${iface}#${key}`);
      return value;
    },
  });
}

function sandboxOverrides(shim: Record<string, ShimInterface>, output: GuestOutput): Record<string, ShimInterface> {
  // Resources must be instances of the shim's classes (jco's glue checks), so ours extend them.
  const { InputStream, OutputStream } = shim['wasi:io/streams'] as { InputStream: Ctor; OutputStream: Ctor };
  const { Pollable, poll } = shim['wasi:io/poll'] as { Pollable: Ctor; poll: (list: object[]) => Uint32Array };

  class ReadyPollable extends Pollable {
    ready(): boolean {
      return true;
    }
    block(): void {}
  }
  const closed = (): never => {
    throw { tag: 'closed' };
  };
  class ClosedInput extends InputStream {
    read = closed;
    blockingRead = closed;
    skip = closed;
    blockingSkip = closed;
    subscribe(): object {
      return new ReadyPollable();
    }
  }
  class LogOutput extends OutputStream {
    constructor(private readonly stream: GuestStream) {
      super();
    }
    checkWrite(): bigint {
      return 4096n;
    }
    write(bytes: Uint8Array): void {
      output.write(this.stream, bytes);
    }
    blockingWriteAndFlush(bytes: Uint8Array): void {
      output.write(this.stream, bytes);
    }
    flush(): void {}
    blockingFlush(): void {}
    writeZeroes(n: bigint): void {
      output.write(this.stream, new Uint8Array(Number(n)));
    }
    blockingWriteZeroesAndFlush(n: bigint): void {
      this.writeZeroes(n);
    }
    subscribe(): object {
      return new ReadyPollable();
    }
  }
  const stdout = new LogOutput('stdout');
  const stderr = new LogOutput('stderr');
  const stdin = new ClosedInput();
  const exit = (status: { tag: string }): never => {
    throw new GuestExit(`status ${status?.tag === 'ok' ? 'ok' : 'err'}`);
  };
  return {
    'wasi:cli/environment': { getEnvironment: () => [], getArguments: () => [], initialCwd: () => undefined },
    'wasi:cli/exit': {
      exit,
      exitWithCode: (code: number): never => {
        throw new GuestExit(`code ${code}`);
      },
    },
    'wasi:cli/stdin': { getStdin: () => stdin },
    'wasi:cli/stdout': { getStdout: () => stdout },
    'wasi:cli/stderr': { getStderr: () => stderr },
    'wasi:cli/terminal-stdin': { getTerminalStdin: () => undefined },
    'wasi:cli/terminal-stdout': { getTerminalStdout: () => undefined },
    'wasi:cli/terminal-stderr': { getTerminalStderr: () => undefined },
    'wasi:filesystem/preopens': { getDirectories: () => [] },
    'wasi:io/poll': {
      Pollable,
      // Our pollables are always ready; poll answers with them at once (a non-empty subset is all it promises).
      poll(list: object[]): Uint32Array {
        const ready = list.flatMap((p, i) => (p instanceof ReadyPollable ? [i] : []));
        return ready.length > 0 ? new Uint32Array(ready) : poll(list);
      },
    },
    'wasi:http/outgoing-handler': {
      handle: () => {
        throw { tag: 'HTTP-request-denied' };
      },
    },
  };
}
