import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { componentImportNames, ComponentImportsError } from '../../dist/components/component-imports.js';
import { GuestExit, GuestOutput, MAX_GUEST_LINE, MAX_GUEST_LINES, MAX_GUEST_OUTPUT_BYTES, wasiImports } from '../../dist/sandbox/wasi-sandbox.js';
import { SERVED_WASI_VERSION, wasiVersionMappings, wasiVersionRefusal, wasiVersionVerdict } from '../../dist/sandbox/wasi-versions.js';
import { fixtureWasm, ROOT } from '../support/bundle.js';

describe('WASI versions', () => {
  it('the version we say we serve is the one preview2-shim implements', () => {
    const dir = join(ROOT, 'node_modules', '@bytecodealliance', 'preview2-shim', 'types', 'interfaces');
    const versions = new Set(readdirSync(dir).map((f) => /@module Interface wasi:[a-z-]+\/[a-z-]+@(\S+) /.exec(readFileSync(join(dir, f), 'utf8'))?.[1]));
    expect([...versions]).toEqual([SERVED_WASI_VERSION]);
  });

  it('serves 0.2.3, maps other 0.2 patches to it, refuses the rest by name', () => {
    expect(wasiVersionVerdict('wasi:cli/environment@0.2.3')).toEqual({ kind: 'served' });
    expect(wasiVersionVerdict('wasi:io/streams@0.2.6')).toEqual({ kind: 'mapped', from: '0.2.6' });
    expect(wasiVersionVerdict('wasi:io/streams@0.2.0')).toEqual({ kind: 'mapped', from: '0.2.0' });
    const serves = (i: string) => `it serves WASI 0.2 (${i}@0.2.3, to which other 0.2.x versions are mapped)`;
    expect(wasiVersionRefusal(['greentic:types-core/core@0.6.0', 'wasi:cli/environment@0.3.0'])).toBe(
      `imports wasi:cli/environment@0.3.0, a WASI version this host cannot serve; ${serves('wasi:cli/environment')}`,
    );
    expect(wasiVersionRefusal(['wasi:io/poll@0.2.0-rc-2023-11-10'])).toBe(
      `imports wasi:io/poll@0.2.0-rc-2023-11-10, a pre-release of WASI this host cannot serve; ${serves('wasi:io/poll')}`,
    );
    expect(wasiVersionRefusal(['wasi:io/poll'])).toBe(`imports wasi:io/poll without a version; ${serves('wasi:io/poll')}`);
    expect(wasiVersionRefusal(['wasi:io/poll@latest'])).toBe(`imports wasi:io/poll@latest, whose version is not a semantic version; ${serves('wasi:io/poll')}`);
    expect(wasiVersionRefusal(['wasi:io/poll@0.1.0'])).toMatch(/^imports wasi:io\/poll@0\.1\.0, a WASI version this host cannot serve/);
    expect(wasiVersionMappings(['wasi:io/poll@0.2.3', 'wasi:io/streams@0.2.6', 'greentic:types-core/core@0.6.0'])).toEqual(['wasi:io/streams@0.2.6 -> 0.2.3']);
  });

  it('reads the versioned import names from the component binary', () => {
    expect(componentImportNames(readFileSync(fixtureWasm('wasi-env')))).toEqual(['wasi:cli/environment@0.2.3', 'greentic:host/types@0.1.0']);
    expect(componentImportNames(readFileSync(fixtureWasm('greentic-preopens'))).sort()).toEqual([
      'greentic:types-core/core@0.6.0',
      'wasi:filesystem/preopens@0.2.6',
      'wasi:filesystem/types@0.2.6',
    ]);
    expect(componentImportNames(readFileSync(fixtureWasm('greentic-js')))).toContain('wasi:cli/exit@0.2.12');
    const truncated = readFileSync(fixtureWasm('wasi-env')).subarray(0, 40);
    expect(() => componentImportNames(truncated)).toThrow(ComponentImportsError);
    expect(() => componentImportNames(Buffer.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]))).toThrow('not a WebAssembly component');
  });
});

describe("a guest's stdout and stderr", () => {
  const capture = () => {
    const out = new GuestOutput();
    const lines: string[] = [];
    out.begin((stream, line) => lines.push(`${stream}: ${line}`));
    return { out, lines };
  };
  const bytes = (s: string) => new TextEncoder().encode(s);

  it('become whole lines, across writes and multi-byte characters; the last one at the end of the call', () => {
    const { out, lines } = capture();
    out.write('stderr', bytes('first li'));
    out.write('stderr', bytes('ne\r\nsecond '));
    out.write('stdout', bytes('out\n'));
    const euro = bytes('€\n');
    out.write('stderr', euro.subarray(0, 1));
    out.write('stderr', euro.subarray(1));
    out.write('stderr', bytes('no newline'));
    expect(lines).toEqual(['stderr: first line', 'stdout: out', 'stderr: second €']);
    out.end();
    expect(lines.at(-1)).toBe('stderr: no newline');
  });

  it('are bounded: long lines cut, and no more than the per-call budget', () => {
    const { out, lines } = capture();
    out.write('stderr', bytes(`${'x'.repeat(MAX_GUEST_LINE + 10)}\n`));
    expect(lines[0]).toBe(`stderr: ${'x'.repeat(MAX_GUEST_LINE)}... [cut at ${MAX_GUEST_LINE} characters]`);
    for (let i = 0; i < 20; i++) out.write('stderr', bytes(`${'y'.repeat(8000)}\n`));
    expect(lines.at(-1)).toBe(`stderr: [guest output cut at ${MAX_GUEST_OUTPUT_BYTES} bytes in this call]`);
    expect(lines.filter((l) => l.includes('cut at 65536')).length).toBe(1);
    // The next call has its own budget, of lines too.
    out.begin((stream, line) => lines.push(`${stream}: ${line}`));
    lines.length = 0;
    out.write('stdout', bytes('\n'.repeat(MAX_GUEST_LINES + 500)));
    expect(lines).toHaveLength(MAX_GUEST_LINES + 1);
    expect(lines.at(-1)).toBe(`stdout: [guest output cut at ${MAX_GUEST_LINES} lines in this call]`);
    out.begin((stream, line) => lines.push(`${stream}: ${line}`));
    out.write('stdout', bytes('again\n'));
    expect(lines.at(-1)).toBe('stdout: again');
  });
});

describe('the per-instance WASI sandbox', () => {
  it('gives no environment, arguments, directory or stdin; exit throws GuestExit; only granted interfaces', async () => {
    const output = new GuestOutput();
    const lines: string[] = [];
    output.begin((_s, line) => lines.push(line));
    const missing: string[] = [];
    const granted = [
      'wasi:cli/environment',
      'wasi:cli/exit',
      'wasi:cli/stdin',
      'wasi:cli/stderr',
      'wasi:filesystem/preopens',
      'wasi:io/streams',
      'wasi:io/poll',
    ];
    const imports = (await wasiImports(granted, output, missing)) as Record<string, Record<string, (...a: unknown[]) => unknown>>;
    expect(Object.keys(imports).sort()).toEqual([...granted].sort());
    const env = imports['wasi:cli/environment']!;
    expect([env.getEnvironment!(), env.getArguments!(), env.initialCwd!()]).toEqual([[], [], undefined]);
    expect(imports['wasi:filesystem/preopens']!.getDirectories!()).toEqual([]);
    expect(() => imports['wasi:cli/exit']!.exit!({ tag: 'err' })).toThrow(GuestExit);
    expect(() => imports['wasi:cli/exit']!.exit!({ tag: 'ok' })).toThrow('the component called exit (status ok)');
    const stdin = imports['wasi:cli/stdin']!.getStdin!() as { read(n: bigint): unknown };
    expect(stdin).toBeInstanceOf(imports['wasi:io/streams']!.InputStream as unknown as new () => object);
    expect(() => stdin.read(10n)).toThrow(expect.objectContaining({ tag: 'closed' }));
    const stderr = imports['wasi:cli/stderr']!.getStderr!() as { blockingWriteAndFlush(b: Uint8Array): void; subscribe(): object };
    expect(stderr).toBeInstanceOf(imports['wasi:io/streams']!.OutputStream as unknown as new () => object);
    stderr.blockingWriteAndFlush(new TextEncoder().encode('to the log\n'));
    expect(lines).toEqual(['to the log']);
    expect(imports['wasi:io/poll']!.poll!([stderr.subscribe(), stderr.subscribe()])).toEqual(new Uint32Array([0, 1]));
    // What the glue asks for and we lack is noted, so a failed instantiation can name it.
    expect(imports['wasi:cli/exit']!.exitWithCode).toBeTypeOf('function');
    expect(imports['wasi:cli/environment']!.getTimezone).toBeUndefined();
    expect(missing).toEqual(['wasi:cli/environment#getTimezone']);
  });
});
