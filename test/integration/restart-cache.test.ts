import { afterAll, describe, expect, it } from 'vitest';
import { GreenticHost } from '../../dist/host.js';
import { EXAMPLES, tempDir } from '../support/bundle.js';
import { memoryLogger } from '../support/logs.js';

const cache = tempDir('greentic-cache-');
const data = tempDir('greentic-data-');
afterAll(() => {
  cache.cleanup();
  data.cleanup();
});

async function startAndStop(): Promise<string[]> {
  const lines: string[] = [];
  const host = await GreenticHost.start({
    bundleDir: EXAMPLES,
    dataDir: data.dir,
    cacheDir: cache.dir,
    logger: memoryLogger().logger,
    workers: 1,
    spare: false,
    onProgress: (l) => lines.push(l),
  });
  await host.close();
  return lines;
}

describe('the transpile cache', () => {
  it('transpiles once; a restart takes every component from the disk cache', async () => {
    const first = await startAndStop();
    expect(first.filter((l) => l.includes(': transpiled in'))).toHaveLength(3); // reply, ask, branch; once each
    const second = await startAndStop();
    expect(second).toHaveLength(6); // 3 components x 2 tenants
    expect(second.every((l) => l.includes(': from cache in'))).toBe(true);
  });
});
