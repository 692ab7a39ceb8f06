import type { AttachmentRef } from '../envelope.js';
import { MAX_ATTACHMENTS } from '../envelope.js';

/** The kind of a file by its MIME type. */
export function attachmentKind(mime: string | undefined): AttachmentRef['kind'] {
  if (mime?.startsWith('image/')) return 'image';
  if (mime?.startsWith('audio/')) return 'audio';
  if (mime?.startsWith('video/')) return 'video';
  return 'file';
}

/** Keep the first MAX_ATTACHMENTS references, each field within the envelope's bounds. */
export function boundedAttachments(refs: readonly AttachmentRef[]): AttachmentRef[] {
  return refs.slice(0, MAX_ATTACHMENTS).map((r) => ({
    kind: r.kind,
    ref: r.ref.slice(0, 2048),
    ...(r.name === undefined ? {} : { name: r.name.slice(0, 256) }),
    ...(r.mime === undefined ? {} : { mime: r.mime.slice(0, 128) }),
    ...(r.size === undefined || !Number.isSafeInteger(r.size) || r.size < 0 ? {} : { size: r.size }),
  }));
}
