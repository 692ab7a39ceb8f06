import { spawn, type ChildProcess } from 'node:child_process';
import { CLI } from './bundle.js';

/** `greentic-host serve` as a real process. */
export interface ServeProcess {
  readonly proc: ChildProcess;
  readonly pid: number;
  /** http://127.0.0.1:PORT, from the ready line. */
  readonly base: string;
  stdout(): string;
  stderr(): string;
  /** The JSON log lines so far. */
  logs(): Array<Record<string, unknown>>;
  /** Resolves with the exit code (or signal) once the process is gone. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Start serve and wait for its ready line; rejects with its output if it exits first. */
export async function startServe(args: string[], env: NodeJS.ProcessEnv = {}): Promise<ServeProcess> {
  const p = spawnServe(args, env);
  const base = await new Promise<string>((resolve, reject) => {
    const check = () => {
      const m = /API (http:\/\/127\.0\.0\.1:\d+)\/api\/v1/.exec(p.stdout());
      if (m) resolve(m[1]!);
    };
    p.proc.stdout!.on('data', check);
    void p.exited.then((e) => reject(new Error(`serve exited (${e.code ?? e.signal}) before it was ready:\n${p.stdout()}\n${p.stderr()}`)));
  });
  return { ...p, base };
}

/** Spawn serve without waiting for it (for starts that are meant to fail). */
export function spawnServe(args: string[], env: NodeJS.ProcessEnv = {}): Omit<ServeProcess, 'base'> {
  const proc = spawn(process.execPath, [CLI, 'serve', '--port', '0', ...args], {
    env: { ...process.env, GREENTIC_LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => proc.once('exit', (code, signal) => r({ code, signal })));
  return {
    proc,
    pid: proc.pid!,
    stdout: () => out,
    stderr: () => err,
    logs: () =>
      err
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>),
    exited,
  };
}

/** Wait until `check` holds, polling; fails naming `what` after `ms`. */
export async function eventually(check: () => boolean | Promise<boolean>, what: string, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`${what}: not so within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
