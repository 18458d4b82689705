import { BlockList, isIPv4 } from 'node:net';

/**
 * A client address as the proxy keys it: an IPv4-mapped IPv6 address (`::ffff:10.0.0.1`,
 * what a dual-stack listener reports for IPv4 clients) becomes the IPv4 address, so that a
 * client counts as one IP whichever way it arrives and IPv4 CIDRs match it.
 */
export function normalizeAddress(address: string | undefined): string {
  if (address === undefined) return 'unknown';
  const mapped = address.startsWith('::ffff:') ? address.slice(7) : undefined;
  return mapped !== undefined && isIPv4(mapped) ? mapped : address;
}

/** The address family `BlockList` wants for `address`. */
export function familyOf(address: string): 'ipv4' | 'ipv6' {
  return isIPv4(address) ? 'ipv4' : 'ipv6';
}

/**
 * A set of CIDRs (`10.0.0.0/8`, `::1/128`, or a bare address), matched with Node's
 * `net.BlockList`. The CIDRs are validated by the config schema before they get here.
 *
 * @example
 * const trusted = new CidrSet(['10.0.0.0/8', '::1']);
 * trusted.has('10.1.2.3'); // true
 */
export class CidrSet {
  readonly #list = new BlockList();
  readonly cidrs: readonly string[];

  constructor(cidrs: readonly string[]) {
    this.cidrs = cidrs;
    for (const cidr of cidrs) {
      const [address = '', prefix] = cidr.split('/');
      const family = familyOf(address);
      if (prefix === undefined) this.#list.addAddress(address, family);
      else this.#list.addSubnet(address, Number(prefix), family);
    }
  }

  /** True when `address` (normalized) falls in one of the CIDRs. */
  has(address: string): boolean {
    if (this.cidrs.length === 0) return false; // BlockList.check allocates a SocketAddress per call
    const normalized = normalizeAddress(address);
    return this.#list.check(normalized, familyOf(normalized));
  }
}

/** True when `text` is an IPv4 or IPv6 address, optionally with a /prefix of the right size. */
export function isCidr(text: string): boolean {
  const [address = '', prefix, extra] = text.split('/');
  if (extra !== undefined) return false;
  const list = new BlockList();
  try {
    const family = familyOf(address);
    if (prefix === undefined) list.addAddress(address, family);
    else if (!/^\d{1,3}$/.test(prefix)) return false;
    else list.addSubnet(address, Number(prefix), family);
    return true;
  } catch {
    return false;
  }
}
