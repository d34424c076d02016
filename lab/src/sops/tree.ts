// Plain trees for the lab's sops: plain values into nodes, plain (unencrypted) files as sops'
// stores read them for `sops -e`, and `--extract`'s tree paths (parseTreePath, Truncate).
import { SopsError, loadJson, loadYaml, mapNode, str, toPlain, type MapNode, type Node, type SopsFormat, type SopsTree, type SopsValue } from '../harness';
import { SopsExit } from './exit-codes';

/** A plain value as a node: safe integers become Go ints, other numbers float64. */
export function fromPlain(v: SopsValue): Node {
  if (v === null) return { t: 'null' };
  if (Array.isArray(v)) return { t: 'seq', items: v.map(fromPlain) };
  switch (typeof v) {
    case 'string':
      return str(v);
    case 'boolean':
      return { t: 'bool', v };
    case 'number':
      return Number.isInteger(v) && Number.isSafeInteger(v) ? { t: 'int', v: BigInt(v) } : { t: 'float', v };
    case 'object':
      return mapNode(Object.entries(v).map(([k, x]) => [k, fromPlain(x)]));
    default:
      throw new SopsError(`unsupported value of type ${typeof v}`);
  }
}

/** Plain (unencrypted) documents as sops' stores read them, for `sops -e`. */
export function loadPlainFile(text: string, format: SopsFormat): MapNode[] {
  return format === 'json' ? [loadJson(text)] : loadYaml(text);
}

// ---------------------------------------------------------------------------------------------
// --extract

/** parseTreePath from cmd/sops/main.go. */
export function parseTreePath(arg: string): Array<string | number> {
  const path: Array<string | number> = [];
  for (const component of arg.split('[')) {
    if (component === '') continue;
    if (!component.endsWith(']')) throw new SopsError(`component ${component} doesn't end with ]`, SopsExit.invalidTreePathFormat);
    const c = component.slice(0, -1);
    if (c.startsWith('"') || c.startsWith("'")) path.push(c.slice(1, -1));
    else if (/^[+-]?\d+$/.test(c)) path.push(Number(c));
    else throw new SopsError(`strconv.Atoi: parsing "${c}": invalid syntax`, SopsExit.invalidTreePathFormat);
  }
  return path;
}

/** TreeBranch.Truncate. */
export function truncate(n: Node, path: Array<string | number>): Node {
  let cur = n;
  for (const c of path) {
    if (typeof c === 'string') {
      const hit = cur.t === 'map' ? cur.items.find(([k]) => k === c) : undefined;
      if (!hit) throw new SopsError(`component ['${c}'] not found`);
      cur = hit[1];
    } else {
      if (cur.t !== 'seq') throw new SopsError(`component [${c}] is integer, but tree part is not a slice`);
      if (c < 0 || cur.items.length <= c) throw new SopsError(`component [${c}] accesses out of bounds`);
      cur = cur.items[c]!;
    }
  }
  return cur;
}

/** `sops -d --extract SELECTOR` on a decrypted tree, e.g. `extract(tree, '["nested"]["test"]')`. */
export function extract(tree: SopsTree, selector: string): SopsValue {
  return toPlain(truncate(fromPlain(tree), parseTreePath(selector)));
}
