#!/usr/bin/env node
// Builds everything a run needs, skipping what has not changed (content hashes):
//   1. the TypeScript host (host/ -> dist/)
//   2. every component in components/ and every fixture in test/fixtures/ that has a
//      manifest.yaml: JS through componentize-js (WASI features off unless the manifest's
//      wasi_features keeps some), WAT through jco's
//      wasm-tools API (parse, embed the WIT world, make a component)
//   3. their transpiled glue, into the same cache the host reads (by digest and jco version)
// One progress line per component: name, kind, size, time, or "up to date"; a JS build also says
// when it starts componentizing (the slow step). Builds are reproducible (same inputs, same
// bytes) and kept in .cache/components/ by the hash of their inputs, so an unchanged component
// whose build/ copy is gone is restored from there without componentizing.
//
// Usage: node build.mjs [--force] [--only NAME] [--quiet] [--serving]
//   --force    rebuild everything, the build cache included
//   --serving  only what `serve` needs: the host and components/, not the test fixtures
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync, copyFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = dirname(fileURLToPath(import.meta.url));
const BUILD = join(ROOT, 'build');
const STATE_FILE = join(BUILD, '.build-state.json');
const WIT_DIR = join(ROOT, 'wit');

const { values: flags } = parseArgs({
  options: {
    force: { type: 'boolean', default: false },
    only: { type: 'string' },
    quiet: { type: 'boolean', default: false },
    serving: { type: 'boolean', default: false },
  },
});
const say = (line) => {
  if (!flags.quiet) process.stdout.write(`${line}\n`);
};

const state = existsSync(STATE_FILE) ? JSON.parse(readFileSync(STATE_FILE, 'utf8')) : {};
const saveState = () => {
  mkdirSync(BUILD, { recursive: true });
  writeFileSync(STATE_FILE, `${JSON.stringify(state, null, 2)}\n`);
};

function hashFiles(files, extra = '') {
  const h = createHash('sha256').update(extra);
  for (const f of files.sort()) h.update(relative(ROOT, f)).update('\0').update(readFileSync(f)).update('\0');
  return h.digest('hex');
}

function walk(dir, pred = () => true) {
  if (!existsSync(dir)) return [];
  const out = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...walk(p, pred));
    else if (pred(p)) out.push(p);
  }
  return out;
}

const pkgVersion = (name) => JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')).version;
const TOOLS = `componentize-js ${pkgVersion('@bytecodealliance/componentize-js')}; jco ${pkgVersion('@bytecodealliance/jco')}; esbuild ${pkgVersion('esbuild')}`;
// How components are built is part of their inputs: a change to the builder rebuilds them.
const BUILDER_SOURCES = ['builder.ts', 'pre-initializer.ts', 'snapshot-module.ts', 'build-cache.ts'].map((f) => join(ROOT, 'host', 'components', f));
const mb = (n) => (n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MB` : `${(n / 1024).toFixed(1)} KB`);
const secs = (ms) => (ms >= 1000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms)} ms`);

// ---- 1. TypeScript -------------------------------------------------------------------------
function buildHost() {
  const sources = walk(join(ROOT, 'host'), (p) => p.endsWith('.ts'));
  const hash = hashFiles([...sources, join(ROOT, 'tsconfig.json')], pkgVersion('typescript'));
  if (!flags.force && state.host?.hash === hash && existsSync(join(ROOT, 'dist', 'host.js'))) {
    say(`[build] host (TypeScript)       up to date`);
    return;
  }
  const t0 = performance.now();
  rmSync(join(ROOT, 'dist'), { recursive: true, force: true });
  try {
    execFileSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(ROOT, 'tsconfig.json')], { stdio: 'inherit' });
  } catch {
    console.error('[build] TypeScript failed (errors above)');
    process.exit(1);
  }
  state.host = { hash };
  saveState();
  say(`[build] host (TypeScript)       compiled ${sources.length} files in ${secs(performance.now() - t0)}`);
}

// ---- 2. components ---------------------------------------------------------------------------
function findTargets() {
  const targets = [];
  const add = (dir, outDir, group) => {
    const manifestFile = join(dir, 'manifest.yaml');
    if (!existsSync(manifestFile)) return;
    const text = readFileSync(manifestFile, 'utf8');
    const name = /^name:\s*([a-z0-9][a-z0-9_-]*)\s*$/m.exec(text)?.[1];
    const source = /^source:\s*(\S+)\s*$/m.exec(text)?.[1];
    const world = /^world:\s*(\S+)\s*$/m.exec(text)?.[1] ?? 'greentic:host/node-component';
    const witDir = /^wit:\s*(\S+)\s*$/m.exec(text)?.[1];
    const wasiFeatures = (/^wasi_features:\s*\[([^\]]*)\]\s*$/m.exec(text)?.[1] ?? '')
      .split(',')
      .map((f) => f.trim())
      .filter(Boolean);
    if (!name || !source) return; // prebuilt (wasm:) components have nothing to build
    targets.push({
      group,
      name,
      dir,
      manifestFile,
      source: join(dir, source),
      world,
      wasiFeatures,
      wit: witDir ? join(dir, witDir) : WIT_DIR,
      out: join(outDir, `${name}.wasm`),
      outDir,
    });
  };
  for (const name of readdirSync(join(ROOT, 'components')).sort()) add(join(ROOT, 'components', name), join(BUILD, 'components', name), 'component');
  const fixtures = join(ROOT, 'test', 'fixtures');
  if (!flags.serving && existsSync(fixtures)) {
    for (const name of readdirSync(fixtures).sort()) {
      const dir = join(fixtures, name);
      if (!statSync(dir).isDirectory()) continue;
      add(dir, join(BUILD, 'fixtures', name), 'fixture');
    }
  }
  return flags.only ? targets.filter((t) => t.name === flags.only) : targets;
}

// The building itself (esbuild + componentize-js for JS, jco for WAT) is host/components/builder.ts,
// shared with `greentic-host component build`; it is imported from dist/ once the host is compiled.
let builder;
async function loadBuilder() {
  if (builder) return builder;
  builder = await import('./dist/components/builder.js');
  // The tools read files through preview2-shim's filesystem, which preopens nothing by default:
  // open the project and the temp directory, in this process only (never in the host).
  await builder.prepareBuildProcess([ROOT, tmpdir()]);
  return builder;
}

async function buildComponents(registry) {
  const targets = findTargets();
  // Forget components that no longer exist, so the state file only describes the tree.
  if (!flags.only && !flags.serving) {
    const live = new Set(targets.map((t) => `${t.group}:${t.name}`));
    for (const key of Object.keys(state)) if (key.includes(':') && !live.has(key)) delete state[key];
  }
  const witFiles = walk(WIT_DIR, (p) => p.endsWith('.wit'));
  let failed = 0;
  for (const t of targets) {
    const label = `[build] ${t.group} ${t.name}`.padEnd(31);
    const kind = t.source.endsWith('.wat') ? 'wat' : 'js';
    const inputs = [t.manifestFile, ...walk(dirname(t.source), (p) => /\.(js|mjs|wat)$/.test(p)), ...witFiles, ...walk(t.wit, (p) => p.endsWith('.wit'))];
    const hash = hashFiles([...new Set([...inputs, ...BUILDER_SOURCES])], TOOLS);
    const key = `${t.group}:${t.name}`;
    const prev = state[key];
    if (!flags.force && prev?.hash === hash && existsSync(t.out)) {
      await registry.loadFile(t.out);
      say(`${label} ${kind.padEnd(3)} ${mb(prev.size).padStart(8)}  up to date`);
      continue;
    }
    const t0 = performance.now();
    let bytes;
    try {
      const { buildComponentBytes } = await loadBuilder();
      const { BuildCache } = await import('./dist/components/build-cache.js');
      const { BUILD_CACHE_DIR } = await import('./dist/paths.js');
      bytes = await buildComponentBytes(
        {
          name: `${t.group}-${t.name}`,
          source: t.source,
          wit: t.wit,
          world: t.world,
          wasiFeatures: t.wasiFeatures,
          tmpDir: join(BUILD, 'tmp'),
        },
        (line) => {
          if (line.startsWith('componentizing')) say(`${label} ${kind.padEnd(3)}           componentizing (the slow step: seconds, up to 30 s the first time)`);
        },
        flags.force ? undefined : new BuildCache(BUILD_CACHE_DIR),
      );
    } catch (e) {
      failed++;
      console.error(
        `${label} FAILED: ${String(e?.message ?? e)
          .split('\n')
          .slice(0, 6)
          .join('\n    ')}`,
      );
      continue;
    }
    mkdirSync(t.outDir, { recursive: true });
    writeFileSync(t.out, bytes);
    copyFileSync(t.manifestFile, join(t.outDir, 'manifest.yaml'));
    const built = performance.now() - t0;
    const loaded = await registry.loadFile(t.out);
    const digest = createHash('sha256').update(bytes).digest('hex');
    state[key] = { hash, size: bytes.length, digest };
    saveState();
    say(
      `${label} ${kind.padEnd(3)} ${mb(bytes.length).padStart(8)}  built in ${secs(built)}, ${loaded.transpiled ? 'transpiled' : 'glue cached'}; sha256 ${digest.slice(0, 12)}`,
    );
  }
  rmSync(join(BUILD, 'tmp'), { recursive: true, force: true });
  if (failed > 0) {
    console.error(`[build] ${failed} component(s) failed`);
    process.exit(1);
  }
}

const t0 = performance.now();
buildHost();
const { ComponentRegistry } = await import('./dist/components/registry.js');
const { DEFAULT_CACHE_DIR } = await import('./dist/paths.js');
await buildComponents(new ComponentRegistry(DEFAULT_CACHE_DIR));
say(`[build] done in ${secs(performance.now() - t0)}`);
