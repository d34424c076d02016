// Go's ways with times, JSON, query strings and integers, as Gitea's answers show them.

const pad = (n: number): string => String(n).padStart(2, '0');

/** time.Time in JSON: RFC 3339 in the server's zone. */
export function rfc3339(t: number): string {
  const d = new Date(t * 1000);
  const off = -d.getTimezoneOffset();
  const s = new Date(d.getTime() + off * 60_000).toISOString().slice(0, 19);
  return off === 0 ? `${s}Z` : `${s}${off > 0 ? '+' : '-'}${pad(Math.floor(Math.abs(off) / 60))}:${pad(Math.abs(off) % 60)}`;
}
export const ZERO_TIME = '0001-01-01T00:00:00Z';

// encoding/json escapes <, >, & and U+2028/9 inside strings.
export const goJson = (v: unknown): string =>
  `${JSON.stringify(v).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)}\n`;

const goQueryEscape = (s: string): string =>
  encodeURIComponent(s)
    .replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    .replace(/%20/g, '+');

/** url.Values.Encode: keys sorted, each value escaped as url.QueryEscape does. */
export function goQueryEncode(q: URLSearchParams): string {
  return [...new Set(q.keys())]
    .sort()
    .flatMap((k) => q.getAll(k).map((v) => `${goQueryEscape(k)}=${goQueryEscape(v)}`))
    .join('&');
}

/** ctx.FormInt: strconv.Atoi, 0 for anything that is not an integer. */
export const goAtoi = (s: string | null): number => (s !== null && /^[+-]?\d+$/.test(s) ? Number(s) : 0);
