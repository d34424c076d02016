// A secret's `key` in its sops file: main.go's recurseSecretKey.
import { fail } from './errors';

/** recurseSecretKey: `a/b/c` walks nested maps; strings as they are, other JSON values marshalled. */
export function recurseSecretKey(format: 'yaml' | 'json', keys: Record<string, unknown>, wantedKey: string): string {
  let current: Record<string, unknown> = keys;
  let rest = wantedKey;
  let soFar = '';
  let val: unknown;
  for (;;) {
    const slash = rest.indexOf('/');
    if (slash < 0) {
      if (!Object.hasOwn(current, rest)) fail(`the key '${soFar ? soFar + '/' : ''}${rest}' cannot be found`);
      val = current[rest];
      break;
    }
    const k = rest.slice(0, slash);
    soFar = soFar ? `${soFar}/${k}` : k;
    rest = rest.slice(slash + 1);
    if (!Object.hasOwn(current, k)) fail(`the key '${soFar}' cannot be found`);
    const v = current[k];
    if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(`key '${soFar}' does not refer to a dictionary`);
    current = v as Record<string, unknown>;
  }
  if (typeof val === 'string') return val;
  if (format === 'json') return goJson(val);
  return fail(`nested secrets are not supported for ${format}`);
}

/** encoding/json.Marshal of a decoded value: compact, sorted keys, HTML-safe escapes. */
function goJson(v: unknown): string {
  if (v === null || v === undefined) return 'null';
  if (typeof v === 'string') return JSON.stringify(v).replace(/[<>&\u2028\u2029]/g, (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'));
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return `[${v.map(goJson).join(',')}]`;
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o)
    .sort()
    .map((k) => `${goJson(k)}:${goJson(o[k])}`)
    .join(',')}}`;
}
