import { createHmac } from 'node:crypto';
import { SecretCipher, SecretIntegrityError } from './secret-cipher.js';

/**
 * Which master key a store's secrets are sealed with. Each place secrets live (the data
 * directory's secrets/, each NATS KV secrets bucket) records the id of its key, so a process
 * started with another key is refused with a clear message instead of sealing new secrets with
 * a second key beside the old ones (or failing on every read). The id is an HMAC of a fixed
 * label under the key: it says nothing about the key, and is safe to print.
 */

/** A short public fingerprint of a master key: 16 hex digits. */
export function masterKeyId(key: Buffer): string {
  return createHmac('sha256', key).update('greentic-host master key id v1').digest('hex').slice(0, 16);
}

/** What a place records: the key id, and during a rotation the key id it is moving to. */
export interface KeyIdRecord {
  readonly key_id: string;
  readonly rotating_to?: string;
}

/** One sealed secret as stored: its address (the cipher's associated data) and how to replace it. */
export interface SealedEntry {
  readonly address: string;
  readonly sealed: Buffer;
  /** Store `sealed` in place of this entry (atomically; refused if the entry changed since it was read). */
  replace(sealed: Buffer): Promise<void>;
}

/** One place whose secrets share one master key. */
export interface SealedArea {
  /** Shown in messages: "data/secrets/", "NATS KV bucket greentic_secrets_acme". */
  readonly where: string;
  readKeyId(): Promise<KeyIdRecord | null>;
  writeKeyId(record: KeyIdRecord): Promise<void>;
  /** Every secret stored here. */
  entries(): AsyncIterable<SealedEntry>;
}

/** The master key in use is not the one a place's secrets are sealed with, or a rotation is unfinished. */
export class MasterKeyMismatchError extends Error {
  override readonly name = 'MasterKeyMismatchError';
}

const KEY_SOURCE = 'GREENTIC_MASTER_KEY, or DATA/master.key when it is not set';
const ROTATE = 'greentic-host secrets rotate-key';

/** Parse a stored record; anything else is reported, never trusted. */
export function parseKeyIdRecord(text: string, where: string): KeyIdRecord {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    v = undefined;
  }
  const r = v as Partial<KeyIdRecord> | undefined;
  const hex = (x: unknown) => typeof x === 'string' && /^[0-9a-f]{16}$/.test(x);
  if (!r || typeof r !== 'object' || !hex(r.key_id) || (r.rotating_to !== undefined && !hex(r.rotating_to))) {
    throw new MasterKeyMismatchError(`${where}: the master key id record is damaged; restore it from a backup, or run ${ROTATE} to write it again`);
  }
  return r.rotating_to === undefined ? { key_id: r.key_id! } : { key_id: r.key_id!, rotating_to: r.rotating_to };
}

/**
 * Check that `area`'s secrets are sealed with `key`. With `record` (a write is coming), an area
 * without a record gets one; without it nothing is written (a reader may not be allowed to). An
 * area without a record but with secrets (written by an earlier version) is checked by opening one.
 */
export async function checkSealedArea(area: SealedArea, key: Buffer, record: boolean): Promise<void> {
  const id = masterKeyId(key);
  const stored = await area.readKeyId();
  if (stored?.rotating_to !== undefined) {
    throw new MasterKeyMismatchError(
      `${area.where}: a master key rotation (key id ${stored.key_id} to ${stored.rotating_to}) did not finish; run ${ROTATE} again with the same keys to finish it`,
    );
  }
  if (stored) {
    if (stored.key_id === id) return;
    throw new MasterKeyMismatchError(
      `${area.where} holds secrets sealed with master key id ${stored.key_id}, but the key in use (${KEY_SOURCE}) has id ${id}: use the key they were sealed with, or re-seal them under the new key with ${ROTATE}`,
    );
  }
  for await (const entry of area.entries()) {
    if (!opens(new SecretCipher(key), entry)) {
      throw new MasterKeyMismatchError(
        `${area.where} holds secrets that do not open with the master key in use (${KEY_SOURCE}, id ${id}): use the key they were sealed with, or re-seal them under the new key with ${ROTATE}`,
      );
    }
    break;
  }
  if (record) await area.writeKeyId({ key_id: id });
}

function opens(cipher: SecretCipher, entry: SealedEntry): boolean {
  try {
    cipher.open(entry.address, entry.sealed);
    return true;
  } catch (e) {
    if (e instanceof SecretIntegrityError) return false;
    throw e;
  }
}

/** What a rotation did to one area. */
export interface RotationResult {
  readonly where: string;
  readonly resealed: number;
  /** Already under the new key (a rotation run again after it stopped half way). */
  readonly already: number;
}

/**
 * Re-seal every secret of `area` from `oldKey` to `newKey`. Every secret is opened first, so a
 * secret that opens with neither key stops the rotation before anything changed. Then the
 * record says "rotating" (every process refuses the area meanwhile), each secret is replaced,
 * and the record names the new key: the record is the commit point. A rotation that stops half
 * way (a crash, a lost connection) is finished by running it again with the same keys.
 */
export async function rotateSealedArea(area: SealedArea, oldKey: Buffer, newKey: Buffer): Promise<RotationResult> {
  const oldId = masterKeyId(oldKey);
  const newId = masterKeyId(newKey);
  const stored = await area.readKeyId();
  if (stored && stored.key_id !== oldId && stored.key_id !== newId) {
    throw new MasterKeyMismatchError(
      `${area.where} holds secrets sealed with master key id ${stored.key_id}, neither the old key (${oldId}) nor the new one (${newId}); nothing was changed`,
    );
  }
  if (stored?.rotating_to !== undefined && stored.rotating_to !== newId) {
    throw new MasterKeyMismatchError(
      `${area.where}: an unfinished rotation is moving to master key id ${stored.rotating_to}, not to the new key given (${newId}); finish it with that key first`,
    );
  }
  const oldCipher = new SecretCipher(oldKey);
  const newCipher = new SecretCipher(newKey);
  const todo: SealedEntry[] = [];
  let already = 0;
  for await (const entry of area.entries()) {
    if (opens(newCipher, entry)) already++;
    else if (opens(oldCipher, entry)) todo.push(entry);
    else
      throw new MasterKeyMismatchError(
        `${area.where}: secret ${entry.address} opens with neither the old master key (${oldId}) nor the new one (${newId}); nothing was changed`,
      );
  }
  if (stored?.key_id === newId && stored.rotating_to === undefined && todo.length === 0) return { where: area.where, resealed: 0, already };
  await area.writeKeyId({ key_id: stored?.key_id ?? oldId, rotating_to: newId });
  for (const entry of todo) await entry.replace(newCipher.seal(entry.address, oldCipher.open(entry.address, entry.sealed)));
  await area.writeKeyId({ key_id: newId });
  return { where: area.where, resealed: todo.length, already };
}
