import type { DeadLetter } from '../stores/dead-letters.js';
import type { SessionRecord, TranscriptEntry } from '../stores/session-store.js';

/** The version tag of the export document; a change to its shape gets a new one. */
export const EXPORT_FORMAT = 'greentic-host.export.v1';

/** One session as exported. */
export interface ExportedSession {
  readonly session: string;
  readonly env: string;
  readonly team: string;
  readonly channel: string;
  readonly user: string;
  readonly created_at: number;
  readonly updated_at: number;
  readonly turns: number;
  /** "flow/node" the conversation waits at, or null. */
  readonly waiting_at: string | null;
  /** The session's working memory, as the flow's components stored it. */
  readonly state: Readonly<Record<string, string>>;
  readonly transcript: readonly TranscriptEntry[];
}

/** One dead letter as exported: the message as it arrived (UTF-8 text), and why it could not be handled. */
export interface ExportedDeadLetter {
  readonly id: string;
  readonly at: number;
  readonly source: string;
  readonly subject: string;
  readonly reason: string;
  readonly message: string;
}

/** The export document (JSON; as NDJSON, a header line then one line per session and per dead letter). */
export interface ExportDocument {
  readonly format: typeof EXPORT_FORMAT;
  readonly tenant: string;
  readonly env: string | null;
  readonly user: string | null;
  readonly session: string | null;
  readonly exported_at: string;
  readonly sessions: readonly ExportedSession[];
  readonly dead_letters: readonly ExportedDeadLetter[];
}

export function sessionView(r: SessionRecord): ExportedSession {
  return {
    session: r.session,
    env: r.env,
    team: r.team,
    channel: r.channel,
    user: r.user,
    created_at: r.created_at,
    updated_at: r.updated_at,
    turns: r.turns,
    waiting_at: r.cursor?.waiting ? `${r.cursor.flow}/${r.cursor.node}` : null,
    state: r.state,
    transcript: r.transcript ?? [],
  };
}

export function deadLetterView(l: DeadLetter): ExportedDeadLetter {
  return { id: l.id, at: l.at, source: l.source, subject: l.subject, reason: l.reason, message: Buffer.from(l.data).toString('utf8') };
}

/** The document as NDJSON lines: `{"kind":"export",...header}`, then `{"kind":"session",...}` and `{"kind":"dead_letter",...}`. */
export function* exportLines(doc: ExportDocument): Generator<string> {
  const { sessions, dead_letters, ...header } = doc;
  yield JSON.stringify({ kind: 'export', ...header });
  for (const s of sessions) yield JSON.stringify({ kind: 'session', ...s });
  for (const l of dead_letters) yield JSON.stringify({ kind: 'dead_letter', ...l });
}
