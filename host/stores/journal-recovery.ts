import type { Logger } from '../observability/logger.js';
import { recordBytesOf, type JournalEntry } from './journal-frame.js';
import type { CachedSession } from './session-cache.js';
import type { SessionFiles } from './session-files.js';
import { SessionJournal } from './session-journal.js';
import type { StoreFs } from './store-fs.js';

/** What a replay found: the sessions to write again, and the segments to delete once they are written. */
export interface Recovered {
  readonly sessions: Array<readonly [string, CachedSession]>;
  readonly segments: string[];
}

/**
 * Read the journal segments dead processes left: the latest revision of each session wins, and
 * is kept only if it is newer than the session's file. Nothing is written here (a start on a
 * full disk still serves): the sessions go to the store as changes waiting for a checkpoint,
 * which deletes the segments once they are in their files. A torn tail (the unacknowledged end
 * of a write cut short) is cut off the segment; damage before valid frames is logged with how
 * many frames it cost.
 */
export async function replayJournal(dir: string, files: SessionFiles, fs: StoreFs, logger: Logger | undefined): Promise<Recovered> {
  const orphans = await SessionJournal.orphans(dir, fs);
  if (orphans.length === 0) return { sessions: [], segments: [] };
  const latest = new Map<string, JournalEntry>();
  let entries = 0;
  for (const seg of orphans) {
    entries += seg.entries.length;
    for (const d of seg.damaged) {
      logger?.error(
        { event: 'journal-damaged', file: seg.file, offset: d.offset, bytes: d.bytes, lost_frames: d.lostFrames },
        'a journal segment is damaged before valid frames; replaying the frames after it',
      );
    }
    if (seg.tornTail) {
      logger?.warn(
        { event: 'journal-torn-tail', file: seg.file, offset: seg.tornTail.offset, bytes: seg.tornTail.bytes },
        'a journal segment ends in an incomplete write (never acknowledged); cut off',
      );
      await cutTail(fs, seg.file, seg.tornTail.offset, logger);
    }
    for (const e of seg.entries) {
      const id = sessionIdOf(e.key);
      const prev = latest.get(id);
      if (!prev || e.rev >= prev.rev) latest.set(id, e);
    }
  }
  const sessions: Array<readonly [string, CachedSession]> = [];
  for (const [id, e] of latest) {
    if (e.rev <= (await files.revisionOf(e.key))) continue;
    sessions.push([id, { key: e.key, rev: e.rev, bytes: recordBytesOf(e), form: 'record', record: e.record }]);
  }
  logger?.info(
    { event: 'journal-replayed', segments: orphans.length, entries, sessions: sessions.length },
    'replayed the session journal a previous process left',
  );
  return { sessions, segments: orphans.map((o) => o.file) };
}

/** The store's id of a session key. */
export function sessionIdOf(k: { tenant: string; env: string; team: string; session: string }): string {
  return `${k.tenant}/${k.env}/${k.team}/${k.session}`;
}

async function cutTail(fs: StoreFs, file: string, offset: number, logger: Logger | undefined): Promise<void> {
  try {
    const fh = await fs.open(file, 'r+');
    try {
      await fh.truncate(offset);
      await fh.datasync();
    } finally {
      await fh.close();
    }
  } catch (e) {
    // Harmless: the next replay finds the same tail and drops it again.
    logger?.warn({ event: 'journal-torn-tail', file, err: (e as Error).message }, 'could not cut off the torn tail; it is ignored');
  }
}
