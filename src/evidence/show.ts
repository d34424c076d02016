// Values as reports show them: short, whole where it matters (a URL, a fingerprint).

export function clip(s: string, max: number): string {
  return s.length > max ? s.slice(0, max - 1) + '…' : s;
}

/** A fact as a table cell: an object as key=value pairs so that a URL or a fingerprint shows whole. */
export function showValue(v: unknown): string {
  if (v && typeof v === 'object' && !Array.isArray(v)) {
    const pairs = Object.entries(v as Record<string, unknown>)
      .filter(([, x]) => x !== undefined)
      .map(([k, x]) => `${k}=${clip(typeof x === 'string' ? x : JSON.stringify(x), 100)}`);
    return clip(pairs.join(', '), 400);
  }
  return clip(typeof v === 'string' ? v : JSON.stringify(v), 120);
}

/** Markdown inline code that survives backticks in the value. */
export function codeSpan(s: string): string {
  return s.includes('`') ? `\`\` ${s} \`\`` : `\`${s}\``;
}
