// Every known secret value is replaced, in every form the harness could print it, before any
// text reaches a file, an attachment or the console.

export const MIN_REDACTABLE = 4;

export class Redactor {
  private readonly forms = new Map<string, string>();
  private pattern: RegExp | null = null;

  /** Registers a secret under a name; the name, never the value, shows where it was. */
  add(name: string, value: string): void {
    const trimmed = value.trim();
    for (const v of new Set([value, trimmed])) {
      if (v.length < MIN_REDACTABLE) continue;
      const b64 = Buffer.from(v).toString('base64');
      for (const form of [v, b64, b64.replace(/=+$/, ''), Buffer.from(v).toString('base64url')]) {
        if (form.length >= MIN_REDACTABLE) this.forms.set(form, `[REDACTED:${name}]`);
      }
      // A multi-line secret (a key file) also leaks line by line.
      for (const line of v.split('\n').map((l) => l.trim())) {
        if (line.length >= 16 && !/^-----(BEGIN|END) /.test(line)) this.forms.set(line, `[REDACTED:${name}]`);
      }
    }
    this.pattern = null;
  }

  get size(): number {
    return this.forms.size;
  }

  redact(text: string): string {
    if (this.forms.size === 0 || text.length === 0) return text;
    if (!this.pattern) {
      const longestFirst = [...this.forms.keys()].sort((a, b) => b.length - a.length);
      this.pattern = new RegExp(longestFirst.map(escapeRegExp).join('|'), 'g');
    }
    return text.replace(this.pattern, (m) => this.forms.get(m) ?? '[REDACTED]');
  }
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
