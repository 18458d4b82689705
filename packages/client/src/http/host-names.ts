/**
 * Host allow-lists for what a browser can reach (the mirror's web app, the proxy's admin API): a
 * page on a foreign name that resolves to this server (DNS rebinding) sends that name in Host,
 * and is refused.
 */

/** The names a loopback bind answers to: the default allow-list. */
export const LOOPBACK_HOSTS = ['localhost', '127.0.0.1', '[::1]', '::1'] as const;

/** A Host header's name, lower case, without the port (`[::1]:80` → `[::1]`). */
export function hostName(host: string | undefined): string {
  const value = (host ?? '').toLowerCase();
  if (value.startsWith('[')) return value.slice(0, value.indexOf(']') + 1);
  return value.replace(/:\d+$/, '');
}

/** Whether `address` is a loopback address (or `localhost`): what may bind without credentials. */
export function isLoopbackAddress(address: string): boolean {
  return address === 'localhost' || address === '::1' || address === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(address);
}
