/** "1 tenant", "2 tenants", "0 problems": a number and its noun, plural unless the number is 1. */
export function count(n: number, noun: string, plural = `${noun}s`): string {
  return `${n} ${n === 1 ? noun : plural}`;
}
