/**
 * Go's time.ParseDuration (`1h30m`, `1.5s`, `300ms`), as HEALTHCHECK's flags are read by
 * BuildKit. Returns nanoseconds, or Go's error text. Values beyond 2^53 ns (104 days) lose
 * precision here; Go's own limit is 2^63 ns.
 */
import { goQuote } from './go-text.js';

const UNITS: Readonly<Record<string, number>> = {
  ns: 1, us: 1e3, 'µs': 1e3, 'μs': 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9,
};

export function parseGoDuration(orig: string): number | string {
  const invalid = `time: invalid duration ${goQuote(orig)}`;
  let s = orig;
  let neg = false;
  if (s !== '' && (s[0] === '-' || s[0] === '+')) {
    neg = s[0] === '-';
    s = s.slice(1);
  }
  if (s === '0') return 0;
  if (s === '') return invalid;
  let total = 0;
  while (s !== '') {
    const m = /^([0-9]*)(?:\.([0-9]*))?/.exec(s);
    const whole = m?.[1] ?? '';
    const frac = m?.[2];
    if (whole === '' && (frac === undefined || frac === '')) return invalid;
    s = s.slice((m?.[0] ?? '').length);
    let i = 0;
    while (i < s.length && !/[0-9.]/.test(s[i] as string)) i++;
    if (i === 0) return `time: missing unit in duration ${goQuote(orig)}`;
    const u = s.slice(0, i);
    s = s.slice(i);
    const unit = UNITS[u];
    if (unit === undefined) return `time: unknown unit ${goQuote(u)} in duration ${goQuote(orig)}`;
    total += Number(`${whole === '' ? '0' : whole}.${frac ?? ''}0`) * unit;
    if (total > 2 ** 63) return invalid;
  }
  return Math.round(neg ? -total : total);
}
