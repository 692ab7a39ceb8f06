import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { BuildReply, BuildRequest } from './build-protocol.js';
import { ComponentBuildError, type BuildTarget } from './builder.js';
import type { SourceImports } from './import-check.js';

/** The compiled build process script, next to this module in dist/components/. */
const BUILDER_PROCESS = fileURLToPath(new URL('./builder-process.js', import.meta.url));
/** How often a slow build step says it is still running. */
const TICK_MS = 10_000;
/** How much of the build process's own output to keep for a crash report. */
const TAIL_BYTES = 2048;

/**
 * Build `target` into `out` in a child process (builder-process.js), relaying its progress
 * lines: the build tools need filesystem preopens that must never exist where guests run.
 */
export async function buildInChildProcess(
  target: BuildTarget,
  out: string,
  progress: (line: string) => void,
  cacheDir?: string,
): Promise<{ size: number; digest: string; imports: SourceImports }> {
  const r = await runBuildProcess({ kind: 'component', target, out, ...(cacheDir === undefined ? {} : { cacheDir }) }, target.source, progress);
  if (r.kind !== 'built') throw new ComponentBuildError(target.source, `the build process answered ${r.kind} to a component build`);
  return { size: r.size, digest: r.digest, imports: new Map(r.imports.map(([spec, names]) => [spec, names === '*' ? '*' : new Set(names)])) };
}

/** Generate guest type declarations for `world` from `wit` in a child process; file name -> text. */
export async function guestTypesInChildProcess(wit: string, world: string): Promise<Record<string, string>> {
  const r = await runBuildProcess({ kind: 'guest-types', wit, world }, wit, () => {});
  if (r.kind !== 'guest-types') throw new ComponentBuildError(wit, `the build process answered ${r.kind} to a types request`);
  return { ...r.files };
}

function runBuildProcess(request: BuildRequest, source: string, progress: (line: string) => void): Promise<BuildReply> {
  return new Promise((resolve, reject) => {
    // No inherited execArgv: a loader or inspector flag of the caller has no business here.
    const child = fork(BUILDER_PROCESS, [], { execArgv: [], stdio: ['ignore', 'pipe', 'pipe', 'ipc'], serialization: 'json' });
    let result: BuildReply | undefined;
    let tail = '';
    const keep = (chunk: Buffer) => {
      tail = (tail + chunk.toString('utf8')).slice(-TAIL_BYTES);
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    // The componentize step keeps the build process busy for seconds without a word: say how long it has taken.
    let ticker: NodeJS.Timeout | undefined;
    const stopTicker = () => clearInterval(ticker);
    child.on('message', (m: BuildReply) => {
      if (m.kind === 'progress') {
        progress(m.line);
        stopTicker();
        if (m.line.startsWith('componentizing')) {
          const start = performance.now();
          ticker = setInterval(() => progress(`  still componentizing (${Math.round((performance.now() - start) / 1000)} s)`), TICK_MS);
        }
      } else result = m;
    });
    child.once('close', stopTicker);
    child.on('error', (e) => reject(new ComponentBuildError(source, `cannot start the build process (${BUILDER_PROCESS}): ${e.message}`)));
    child.on('close', (code, signal) => {
      if (result?.kind === 'failed') reject(new ComponentBuildError(source, result.message));
      else if (result) resolve(result);
      else {
        const why = signal ? `was killed by ${signal}` : `exited with code ${code}`;
        const said = tail.trim().split('\n').slice(-5).join('\n  ');
        reject(new ComponentBuildError(source, `the build process ${why} without a result${said ? `:\n  ${said}` : ''}`));
      }
    });
    child.send(request);
  });
}
