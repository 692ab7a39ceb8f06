import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';

/** A stored secret that fails authentication: tampered, moved to another namespace, or another key. */
export class SecretIntegrityError extends Error {
  override readonly name = 'SecretIntegrityError';
}

const VERSION = 1;

/**
 * AES-256-GCM with the secret's full address (namespace + name) as associated data, so a
 * ciphertext copied into another tenant's namespace does not decrypt there.
 */
export class SecretCipher {
  readonly #key: Buffer;

  constructor(masterKey: Buffer) {
    // A dedicated sub-key: the master key is also used for other purposes (cookie MACs).
    this.#key = createHmac('sha256', masterKey).update('greentic-host secrets v1').digest();
  }

  seal(address: string, plaintext: string): Buffer {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv);
    cipher.setAAD(Buffer.from(address));
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return Buffer.concat([Buffer.from([VERSION]), iv, body, cipher.getAuthTag()]);
  }

  open(address: string, sealed: Buffer): string {
    if (sealed.length < 1 + 12 + 16 || sealed[0] !== VERSION) throw new SecretIntegrityError(`secret ${address} has an unknown format`);
    const iv = sealed.subarray(1, 13);
    const tag = sealed.subarray(sealed.length - 16);
    const decipher = createDecipheriv('aes-256-gcm', this.#key, iv);
    decipher.setAAD(Buffer.from(address));
    decipher.setAuthTag(tag);
    try {
      return Buffer.concat([decipher.update(sealed.subarray(13, sealed.length - 16)), decipher.final()]).toString('utf8');
    } catch {
      throw new SecretIntegrityError(`secret ${address} failed authentication (tampered, moved, or sealed with another master key)`);
    }
  }
}
