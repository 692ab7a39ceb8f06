/**
 * A tenant's grant of outgoing HTTP to one component: origins as `scheme://host[:port]`, where
 * host may start with `*.` (any subdomain, not the domain itself) and the port defaults to the
 * scheme's. A request goes only to an origin on the list. A host named by its IP address grants
 * that address whatever its kind; a name reaches public addresses only, unless its entry says
 * `private_network: true`.
 */
import { isIP } from 'node:net';

/** One allow-list entry as configured. */
export type HttpGrantEntry = string | { readonly origin: string; readonly private_network?: boolean };

/** One entry, parsed. */
export interface HttpRule {
  readonly scheme: 'http' | 'https';
  /** Lower case; without the `*.` of a wildcard; an IPv6 address without brackets. */
  readonly host: string;
  readonly wildcard: boolean;
  readonly port: number;
  /** The host is an IP address: that address is granted, whatever its kind. */
  readonly literal: boolean;
  /** Names may resolve to private, loopback and link-local addresses. */
  readonly privateNetwork: boolean;
  /** The entry as written, for messages. */
  readonly text: string;
}

const HOST_LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;
const DEFAULT_PORT = { http: 80, https: 443 } as const;

/** Parse one entry; a string is the reason it is not one. */
export function parseHttpRule(entry: HttpGrantEntry): HttpRule | string {
  const text = typeof entry === 'string' ? entry : entry.origin;
  const m = /^(https?):\/\/(\*\.)?(\[[0-9a-fA-F:.]+\]|[^/:?#[\]@]+)(?::(\d{1,5}))?\/?$/.exec(text);
  if (!m) return `expected "scheme://host[:port]" (http or https, no path, query or user), got ${JSON.stringify(text.slice(0, 100))}`;
  const scheme = m[1] as 'http' | 'https';
  const wildcard = m[2] !== undefined;
  let host = m[3]!.toLowerCase();
  const bracketed = host.startsWith('[');
  if (bracketed) host = host.slice(1, -1);
  const literal = isIP(host) !== 0;
  if (bracketed && isIP(host) !== 6) return `${JSON.stringify(text)}: ${JSON.stringify(m[3])} is not an IPv6 address`;
  if (!bracketed && isIP(host) === 6) return `${JSON.stringify(text)}: write an IPv6 address in brackets ([${host}])`;
  if (literal && wildcard) return `${JSON.stringify(text)}: "*." cannot precede an IP address`;
  if (!literal && (host.length > 253 || !host.split('.').every((l) => HOST_LABEL.test(l))))
    return `${JSON.stringify(text)}: ${JSON.stringify(host)} is not a host name`;
  const port = m[4] === undefined ? DEFAULT_PORT[scheme] : Number(m[4]);
  if (port < 1 || port > 65535) return `${JSON.stringify(text)}: port ${m[4]} is out of range`;
  const privateNetwork = typeof entry === 'object' && entry.private_network === true;
  return { scheme, host, wildcard, port, literal, privateNetwork, text };
}

/** The allow-list of one component for one tenant. */
export class HttpPolicy {
  constructor(readonly rules: readonly HttpRule[]) {}

  /** Parse a grant's entries; throws with the first that is not one. */
  static of(entries: readonly HttpGrantEntry[]): HttpPolicy {
    return new HttpPolicy(
      entries.map((e) => {
        const r = parseHttpRule(e);
        if (typeof r === 'string') throw new Error(r);
        return r;
      }),
    );
  }

  /** The rule `url` falls under, or undefined when none does. */
  match(url: URL): HttpRule | undefined {
    const scheme = url.protocol.slice(0, -1);
    const host = url.hostname.toLowerCase().replace(/^\[(.*)\]$/, '$1');
    const port = url.port === '' ? DEFAULT_PORT[scheme as 'http' | 'https'] : Number(url.port);
    return this.rules.find((r) => r.scheme === scheme && r.port === port && (r.wildcard ? host.endsWith(`.${r.host}`) : host === r.host));
  }
}

/** `scheme://host:port` of a URL: what a log line or a refusal names (never its path or query, which may carry a token). */
export function originOf(url: URL): string {
  const port = url.port === '' ? DEFAULT_PORT[url.protocol.slice(0, -1) as 'http' | 'https'] : url.port;
  return `${url.protocol}//${url.hostname}:${port}`;
}
