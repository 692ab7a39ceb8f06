import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * True when this process may mount a tmpfs (root, as here and in CI): the fault tests then use
 * real small disks. GREENTIC_TEST_NO_MOUNT=1 makes them take their fallback (the fake layer) instead.
 */
export const CAN_MOUNT: boolean = (() => {
  if (process.getuid?.() !== 0 || process.env.GREENTIC_TEST_NO_MOUNT === '1') return false;
  const dir = mkdtempSync(join(tmpdir(), 'greentic-mount-probe-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=16k', 'tmpfs', dir], { stdio: 'ignore' });
    execFileSync('umount', [dir], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
})();

/** A real tmpfs of `sizeKb` KiB mounted on a fresh directory (root only: see CAN_MOUNT). */
export class SmallDisk {
  readonly dir: string;
  #fillers = 0;

  constructor(sizeKb: number) {
    this.dir = mkdtempSync(join(tmpdir(), 'greentic-small-disk-'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeKb}k,mode=0700`, 'tmpfs', this.dir]);
  }

  /** Fill the disk up to its last `leaveBytes` bytes (tmpfs counts whole 4 KiB pages). */
  fill(leaveBytes = 0): void {
    const free = this.freeBytes();
    if (free > leaveBytes) writeFileSync(join(this.dir, `.filler-${this.#fillers++}`), Buffer.alloc(free - leaveBytes));
  }

  /** Remove what fill() wrote: space comes back. */
  free(): void {
    for (const n of readdirSync(this.dir)) if (n.startsWith('.filler-')) rmSync(join(this.dir, n));
  }

  freeBytes(): number {
    const out = execFileSync('df', ['-B1', '--output=avail', this.dir]).toString().trim().split('\n');
    return Number(out[out.length - 1]);
  }

  readOnly(): void {
    execFileSync('mount', ['-o', 'remount,ro', this.dir]);
  }

  readWrite(): void {
    execFileSync('mount', ['-o', 'remount,rw', this.dir]);
  }

  dispose(): void {
    try {
      execFileSync('umount', ['-l', this.dir], { stdio: 'ignore' });
    } finally {
      rmSync(this.dir, { recursive: true, force: true });
    }
  }
}
