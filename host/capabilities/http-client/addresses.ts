/**
 * Which addresses an outgoing request may reach without an explicit grant: public unicast
 * ones. Loopback, private, carrier-grade NAT, link-local, multicast, documentation, benchmark
 * and reserved ranges (IPv4 and IPv6, and IPv4 inside IPv6: mapped, compatible, NAT64, 6to4)
 * name this machine or a network behind it, which a tenant's component has no business
 * reaching unless the tenant grants that address itself.
 */
import { BlockList, isIP } from 'node:net';

/** [CIDR, what the range is] for each range a component may reach only when granted by address. */
const V4: ReadonlyArray<[string, number, string]> = [
  ['0.0.0.0', 8, 'unspecified ("this network")'],
  ['10.0.0.0', 8, 'private'],
  ['100.64.0.0', 10, 'carrier-grade NAT'],
  ['127.0.0.0', 8, 'loopback'],
  ['169.254.0.0', 16, 'link-local'],
  ['172.16.0.0', 12, 'private'],
  ['192.0.0.0', 24, 'IETF protocol assignments'],
  ['192.0.2.0', 24, 'documentation'],
  ['192.88.99.0', 24, '6to4 relay'],
  ['192.168.0.0', 16, 'private'],
  ['198.18.0.0', 15, 'benchmarking'],
  ['198.51.100.0', 24, 'documentation'],
  ['203.0.113.0', 24, 'documentation'],
  ['224.0.0.0', 4, 'multicast'],
  ['240.0.0.0', 4, 'reserved'],
];
const V6: ReadonlyArray<[string, number, string]> = [
  ['::', 128, 'unspecified'],
  ['::1', 128, 'loopback'],
  ['100::', 64, 'discard'],
  ['2001::', 23, 'IETF protocol assignments'],
  ['2001:db8::', 32, 'documentation'],
  ['fc00::', 7, 'unique local (private)'],
  ['fe80::', 10, 'link-local'],
  ['fec0::', 10, 'site-local'],
  ['ff00::', 8, 'multicast'],
];

/** The ranges as BlockLists, built once per client (BlockList is mutable: never shared module-wide). */
export class AddressRanges {
  readonly #v4 = V4.map(([net, bits, what]) => [list(net, bits, 'ipv4'), what] as const);
  readonly #v6 = V6.map(([net, bits, what]) => [list(net, bits, 'ipv6'), what] as const);

  /** What kind of non-public address `ip` is, or null for a public unicast one. Anything that is not an IP address is "not an IP address". */
  classify(ip: string): string | null {
    const family = isIP(ip);
    if (family === 4) return this.#v4.find(([b]) => b.check(ip, 'ipv4'))?.[1] ?? null;
    if (family !== 6) return 'not an IP address';
    const embedded = embeddedV4(ip);
    if (embedded !== undefined) {
      const kind = this.classify(embedded);
      return kind === null ? null : `${kind} (${embedded} inside IPv6)`;
    }
    return this.#v6.find(([b]) => b.check(ip, 'ipv6'))?.[1] ?? null;
  }
}

function list(net: string, bits: number, type: 'ipv4' | 'ipv6'): BlockList {
  const b = new BlockList();
  b.addSubnet(net, bits, type);
  return b;
}

/** The IPv4 address an IPv6 one carries: mapped (::ffff:a.b.c.d), compatible (::a.b.c.d), NAT64 (64:ff9b::/96), 6to4 (2002::/16). */
export function embeddedV4(ip: string): string | undefined {
  const words = expandV6(ip);
  if (!words) return undefined;
  const v4 = (hi: number, lo: number) => `${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`;
  const zeros = (from: number, to: number) => words.slice(from, to).every((w) => w === 0);
  if (zeros(0, 5) && words[5] === 0xffff) return v4(words[6]!, words[7]!);
  if (zeros(0, 6) && (words[6] !== 0 || words[7]! > 1)) return v4(words[6]!, words[7]!);
  if (words[0] === 0x64 && words[1] === 0xff9b && zeros(2, 6)) return v4(words[6]!, words[7]!);
  if (words[0] === 0x2002) return v4(words[1]!, words[2]!);
  return undefined;
}

/** The eight 16-bit words of an IPv6 address (with a dotted IPv4 tail, or a zone, handled). */
function expandV6(ip: string): number[] | undefined {
  let s = ip.replace(/%.*$/, '');
  const tail = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(s);
  if (tail) {
    const [a, b, c, d] = tail.slice(1).map(Number) as [number, number, number, number];
    s = `${s.slice(0, tail.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const halves = s.split('::');
  if (halves.length > 2) return undefined;
  const head = halves[0] ? halves[0].split(':') : [];
  const rest = halves.length === 2 && halves[1] ? halves[1].split(':') : [];
  const fill = halves.length === 2 ? 8 - head.length - rest.length : 0;
  const words = [...head, ...Array<string>(Math.max(0, fill)).fill('0'), ...rest].map((w) => parseInt(w, 16));
  return words.length === 8 && words.every((w) => Number.isInteger(w) && w >= 0 && w <= 0xffff) ? words : undefined;
}
