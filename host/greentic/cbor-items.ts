/**
 * How many data items a CBOR value holds, counted from its heads without decoding it. Decoding
 * allocates a JS value per item (an empty array is one byte of CBOR and dozens of bytes of
 * heap), so a guest's output is charged by this count before it is decoded. Linear in the
 * bytes, no recursion; a head that runs past the end stops the count (the decoder then says what
 * is wrong with the bytes).
 */

/** The number of data items in `bytes` (every head but `break`), or a number above `max` as soon as it passes it. */
export function cborItemCount(bytes: Uint8Array, max: number): number {
  let items = 0;
  let pos = 0;
  while (pos < bytes.length && items <= max) {
    const head = bytes[pos++]!;
    if (head === 0xff) continue; // break: ends an indefinite item, is not one
    items++;
    const major = head >> 5;
    const info = head & 0x1f;
    let arg = info;
    if (info >= 24 && info <= 27) {
      const size = 1 << (info - 24);
      arg = 0;
      for (let i = 0; i < size && pos < bytes.length; i++) arg = arg * 256 + bytes[pos++]!;
    }
    // Byte and text strings of definite length: skip the payload (chunks of indefinite ones are heads of their own).
    if ((major === 2 || major === 3) && info !== 31) pos += arg;
  }
  return items;
}
