// The Traefik stand-in's router rules: Host, Path and PathPrefix with backquoted arguments,
// combined with &&, ||, ! and parentheses.

export interface RequestInfo {
  /** Lower-cased, without port or trailing dot. */
  host: string;
  path: string;
}
export type Matcher = (r: RequestInfo) => boolean;

function tokenize(rule: string): { t: string; v: string }[] {
  const out: { t: string; v: string }[] = [];
  let i = 0;
  while (i < rule.length) {
    const c = rule[i]!;
    if (/\s/.test(c)) i++;
    else if (rule.startsWith('||', i) || rule.startsWith('&&', i)) {
      out.push({ t: rule.slice(i, i + 2), v: rule.slice(i, i + 2) });
      i += 2;
    } else if ('!(),'.includes(c)) out.push({ t: c, v: rule[i++]! });
    else if (c === '`') {
      const end = rule.indexOf('`', i + 1);
      if (end < 0) throw new Error('unterminated string');
      out.push({ t: 'str', v: rule.slice(i + 1, end) });
      i = end + 1;
    } else {
      const m = /^[A-Za-z]+/.exec(rule.slice(i));
      if (!m) throw new Error(`unexpected character ${JSON.stringify(c)}`);
      out.push({ t: 'id', v: m[0] });
      i += m[0].length;
    }
  }
  return out;
}

function matcher(name: string, args: string[]): Matcher {
  if (args.length === 0) throw new Error(`${name}: no arguments`);
  switch (name.toLowerCase()) {
    case 'host': {
      const hosts = args.map((h) => h.toLowerCase().replace(/\.$/, ''));
      return (r) => hosts.includes(r.host);
    }
    case 'path':
      return (r) => args.includes(r.path);
    case 'pathprefix':
      return (r) => args.some((p) => r.path.startsWith(p));
    default:
      throw new Error(`unsupported matcher ${name} (lab stand-in: Host, Path, PathPrefix)`);
  }
}

export function parseRule(rule: string): Matcher {
  const toks = tokenize(rule);
  let i = 0;
  const expect = (t: string): void => {
    if (toks[i]?.t !== t) throw new Error(`expected ${t} at token ${i + 1}`);
    i++;
  };
  const binary = (op: string, next: () => Matcher): Matcher => {
    let left = next();
    while (toks[i]?.t === op) {
      i++;
      const [a, b] = [left, next()];
      left = op === '||' ? (r) => a(r) || b(r) : (r) => a(r) && b(r);
    }
    return left;
  };
  const or = (): Matcher => binary('||', and);
  const and = (): Matcher => binary('&&', unary);
  const unary = (): Matcher => {
    const t = toks[i++];
    if (!t) throw new Error('unexpected end of rule');
    if (t.t === '!') {
      const m = unary();
      return (r) => !m(r);
    }
    if (t.t === '(') {
      const m = or();
      expect(')');
      return m;
    }
    if (t.t !== 'id') throw new Error(`unexpected ${t.v}`);
    expect('(');
    const args: string[] = [];
    while (toks[i]?.t === 'str') {
      args.push(toks[i++]!.v);
      if (toks[i]?.t !== ',') break;
      i++;
    }
    expect(')');
    return matcher(t.v, args);
  };
  const m = or();
  if (i < toks.length) throw new Error(`unexpected ${toks[i]!.v}`);
  return m;
}
