import { z } from 'zod';
import { isCidr } from '../net/address.js';

/** The field types both halves of the proxy's config schema use, with errors that say what was expected. */
export const port = z.number({ error: 'expected a port number' }).int('expected a whole port number').min(0, 'expected a port 0-65535').max(65535, 'expected a port 0-65535');
export const ms = (what: string) => z.number({ error: `expected ${what} in milliseconds` }).int().min(0, `expected ${what} >= 0 ms`).max(2 ** 31 - 1, `expected ${what} under 2^31 ms`);
export const positive = (what: string) => z.number({ error: `expected ${what} as a number` }).int(`expected ${what} as a whole number`).min(1, `expected ${what} >= 1`);
export const bytes = (what: string) => z.number({ error: `expected ${what} in bytes` }).int().min(0, `expected ${what} >= 0`);
export const name = z.string().regex(/^[A-Za-z0-9_.:-]{1,64}$/, 'expected a name of letters, digits, _ . : - (at most 64)');
export const cidr = z.string().refine(isCidr, 'expected an IP address or CIDR such as 10.0.0.0/8 or ::1/128');
