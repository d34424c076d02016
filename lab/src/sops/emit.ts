// sops' emitters for the lab: YAML follows gopkg.in/yaml.v3's emitter with SetIndent(4), the way
// sops' YAML store builds nodes; JSON follows sops' JSON store (encoding/json values, json.Indent
// with a tab). YAML comments are not emitted (the tree has none).
import { SopsError, TIMESTAMP, resolvePlain, type Node } from '../harness';
import { SopsExit } from './exit-codes';
import { goFormatFloatF, yamlFloat } from './go-float';

type Style = 'plain' | 'single' | 'double' | 'literal';

const isBreakCp = (cp: number) => cp === 0x0a || cp === 0x0d || cp === 0x85 || cp === 0x2028 || cp === 0x2029;
const isPrintableCp = (cp: number) =>
  cp === 0x0a || (cp >= 0x20 && cp <= 0x7e) || (cp >= 0xa0 && cp <= 0xd7ff) || (cp >= 0xe000 && cp <= 0xfffd && cp !== 0xfeff);

interface Analysis {
  multiline: boolean;
  blockPlain: boolean;
  single: boolean;
  block: boolean;
}

/** yaml_emitter_analyze_scalar (block context: flow_plain_allowed is never consulted here). */
function analyze(value: string): Analysis {
  if (value === '') return { multiline: false, blockPlain: true, single: true, block: false };
  const cps = Array.from(value, (c) => c.codePointAt(0)!);
  let blockInd = value.startsWith('---') || value.startsWith('...');
  let lineBreaks = false,
    special = false,
    tabs = false;
  let leadingSpace = false,
    leadingBreak = false,
    trailingSpace = false,
    trailingBreak = false;
  let breakSpace = false,
    spaceBreak = false,
    prevSpace = false,
    prevBreak = false;
  let precededByWs = true;
  const blank = (j: number) => j >= cps.length || cps[j] === 0x20 || cps[j] === 0x09;
  const blankz = (j: number) => blank(j) || isBreakCp(cps[j]!) || cps[j] === 0;
  for (let i = 0; i < cps.length; i++) {
    const cp = cps[i]!;
    const ch = String.fromCodePoint(cp);
    const followedByWs = i + 1 >= cps.length || blank(i + 1);
    if (i === 0) {
      if ('#,[]{}&*!|>\'"%@`'.includes(ch)) blockInd = true;
      else if ((ch === '?' || ch === ':' || ch === '-') && followedByWs) blockInd = true;
    } else if ((ch === ':' && followedByWs) || (ch === '#' && precededByWs)) blockInd = true;
    if (cp === 0x09) tabs = true;
    else if (!isPrintableCp(cp)) special = true;
    if (cp === 0x20) {
      if (i === 0) leadingSpace = true;
      if (i === cps.length - 1) trailingSpace = true;
      if (prevBreak) breakSpace = true;
      prevSpace = true;
      prevBreak = false;
    } else if (isBreakCp(cp)) {
      lineBreaks = true;
      if (i === 0) leadingBreak = true;
      if (i === cps.length - 1) trailingBreak = true;
      if (prevSpace) spaceBreak = true;
      prevSpace = false;
      prevBreak = true;
    } else {
      prevSpace = false;
      prevBreak = false;
    }
    precededByWs = blankz(i);
  }
  let blockPlain = true,
    single = true,
    block = true;
  if (leadingSpace || leadingBreak || trailingSpace || trailingBreak) blockPlain = false;
  if (trailingSpace) block = false;
  if (breakSpace) blockPlain = single = false;
  if (spaceBreak || tabs || special) blockPlain = single = false;
  if (spaceBreak || special) block = false;
  if (lineBreaks || blockInd) blockPlain = false;
  return { multiline: lineBreaks, blockPlain, single, block };
}

const BASE60 = /^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$/;
const OLD_BOOLS = new Set(['y', 'Y', 'yes', 'Yes', 'YES', 'on', 'On', 'ON', 'n', 'N', 'no', 'No', 'NO', 'off', 'Off', 'OFF']);

/** yaml_emitter_select_scalar_style in block context. */
function selectStyle(req: Style, v: string, simpleKey: boolean): Style {
  const a = analyze(v);
  let style = req;
  if (simpleKey && a.multiline) style = 'double';
  if (style === 'plain') {
    if (!a.blockPlain) style = 'single';
    if (v === '' && simpleKey) style = 'single';
  }
  if (style === 'single' && !a.single) style = 'double';
  if (style === 'literal' && (!a.block || simpleKey)) style = 'double';
  return style;
}

/**
 * sops builds nodes with Node.Encode(value): yaml.v3 marshals the string on its own (stringv
 * picks the style), parses that back, then emits the node. Its literal writer drops one leading
 * line break, so such values really lose one on each of the two passes; we reproduce that.
 */
function nodeEncode(s: string): { v: string; req: Style } {
  const canUsePlain = resolvePlain(s).t === 'str' && !TIMESTAMP.test(s) && !BASE60.test(s) && !OLD_BOOLS.has(s) && s !== '<<';
  const req = selectStyle(s.includes('\n') ? 'literal' : canUsePlain ? 'plain' : 'double', s, false);
  return { v: req === 'literal' && s.startsWith('\n') ? s.slice(1) : s, req };
}

const ESCAPES: Record<number, string> = {
  0x00: '0',
  0x07: 'a',
  0x08: 'b',
  0x09: 't',
  0x0a: 'n',
  0x0b: 'v',
  0x0c: 'f',
  0x0d: 'r',
  0x1b: 'e',
  0x22: '"',
  0x5c: '\\',
  0x85: 'N',
  0xa0: '_',
  0x2028: 'L',
  0x2029: 'P',
};

class YamlEmitter {
  out = '';
  private column = 0;
  private whitespace = true;
  private indention = true;
  private indent = -1;
  private readonly indents: number[] = [];

  private put(s: string) {
    this.out += s;
    this.column += Array.from(s).length;
  }
  private putBreak() {
    this.out += '\n';
    this.column = 0;
    this.indention = true;
  }
  private writeIndent() {
    const ind = Math.max(this.indent, 0);
    if (!this.indention || this.column > ind || (this.column === ind && !this.whitespace)) this.putBreak();
    while (this.column < ind) this.put(' ');
    this.whitespace = true;
  }
  private indicator(s: string, needWs: boolean, isWs: boolean, isIndention: boolean) {
    if (needWs && !this.whitespace) this.put(' ');
    this.put(s);
    this.whitespace = isWs;
    this.indention = this.indention && isIndention;
  }
  /** yaml_emitter_increase_indent; `inSeqItem` is "the state below is BLOCK_SEQUENCE_ITEM". */
  private increase(flow: boolean, inSeqItem: boolean) {
    this.indents.push(this.indent);
    if (this.indent < 0) this.indent = flow ? 4 : 0;
    else this.indent = inSeqItem ? this.indent + 2 : 4 * Math.floor((this.indent + 4) / 4);
  }
  private pop() {
    this.indent = this.indents.pop()!;
  }

  document(n: Node, first: boolean) {
    if (!first) this.indicator('---', true, false, false);
    this.node(n, false, false);
    this.writeIndent();
  }

  private node(n: Node, inSeqItem: boolean, simpleKey: boolean) {
    if (n.t === 'map' || n.t === 'seq') {
      if (n.items.length === 0) {
        this.indicator(n.t === 'map' ? '{' : '[', true, true, false);
        this.indicator(n.t === 'map' ? '}' : ']', false, false, false);
        return;
      }
      this.increase(false, inSeqItem);
      if (n.t === 'seq') {
        for (const item of n.items) {
          this.writeIndent();
          this.indicator('-', true, false, true);
          this.node(item, true, false);
        }
      } else {
        for (const [k, v] of n.items) {
          this.writeIndent();
          const key = nodeEncode(k);
          if (!analyze(key.v).multiline && Buffer.byteLength(key.v) <= 128) {
            this.scalar(key, false, true);
            this.indicator(':', false, false, false);
          } else {
            this.indicator('?', true, false, true);
            this.scalar(key, false, false);
            this.writeIndent();
            this.indicator(':', true, false, true);
          }
          this.node(v, false, false);
        }
      }
      this.pop();
      return;
    }
    switch (n.t) {
      case 'str':
        return this.scalar(nodeEncode(n.v), inSeqItem, simpleKey);
      case 'int':
        return this.plain(n.v.toString(), inSeqItem);
      case 'float':
        return this.plain(yamlFloat(n.v), inSeqItem);
      case 'bool':
        return this.plain(n.v ? 'true' : 'false', inSeqItem);
      case 'null':
        return this.plain('null', inSeqItem);
    }
  }

  private plain(text: string, inSeqItem: boolean) {
    this.increase(true, inSeqItem);
    if (text !== '' && !this.whitespace) this.put(' ');
    this.put(text);
    if (text !== '') this.whitespace = false;
    this.indention = false;
    this.pop();
  }

  private scalar({ v: s, req }: { v: string; req: Style }, inSeqItem: boolean, simpleKey: boolean) {
    if (s === '<<') return this.plain('!!merge <<', inSeqItem); // yaml.v3 re-tags a "<<" string as a merge key
    const style = selectStyle(req, s, simpleKey);
    if (style === 'plain') return this.plain(s, inSeqItem);
    this.increase(true, inSeqItem);
    if (style === 'single') {
      this.indicator("'", true, false, false);
      this.put(s.replace(/'/g, "''"));
      this.indicator("'", false, false, false);
    } else if (style === 'double') {
      this.indicator('"', true, false, false);
      let body = '';
      for (const ch of s) {
        const cp = ch.codePointAt(0)!;
        if (!isPrintableCp(cp) || isBreakCp(cp) || cp === 0x22 || cp === 0x5c) {
          const e = ESCAPES[cp];
          const hex = cp.toString(16).toUpperCase();
          body += '\\' + (e ?? (cp <= 0xff ? 'x' + hex.padStart(2, '0') : cp <= 0xffff ? 'u' + hex.padStart(4, '0') : 'U' + hex.padStart(8, '0')));
        } else body += ch;
      }
      this.put(body);
      this.indicator('"', false, false, false);
    } else {
      this.literal(s);
      return this.pop();
    }
    this.whitespace = false;
    this.indention = false;
    this.pop();
  }

  private literal(s: string) {
    this.indicator('|', true, false, false);
    if (s.startsWith(' ') || isBreakCp(s.codePointAt(0)!)) this.indicator('4', false, false, false);
    const trailing = /\n*$/.exec(s)![0].length;
    if (trailing === 0) this.indicator('-', false, false, false);
    else if (trailing >= 2 || s === '\n') this.indicator('+', false, false, false);
    this.whitespace = true;
    let breaks = true;
    for (const ch of s) {
      if (ch === '\n') {
        this.putBreak();
        breaks = true;
      } else {
        if (breaks) this.writeIndent();
        this.put(ch);
        this.indention = false;
        breaks = false;
      }
    }
  }
}

/** The YAML store's EmitPlainFile (several branches become several documents). */
export function emitYaml(branches: Node[]): string {
  const e = new YamlEmitter();
  branches.forEach((b, i) => e.document(b, i === 0));
  return e.out;
}

/** The YAML store's EmitValue (used for `--extract` of non-string values). */
export function emitYamlValue(n: Node): string {
  return emitYaml([n]);
}

function goJsonString(s: string): string {
  return JSON.stringify(s).replace(/[<>&\u2028\u2029]/g, (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'));
}

/** The JSON store's encodeValue + json.Indent("", "\t"). */
export function emitJson(n: Node, depth = 0): string {
  const pad = '\t'.repeat(depth + 1);
  const end = '\t'.repeat(depth);
  switch (n.t) {
    case 'map':
      if (n.items.length === 0) return '{}';
      return `{\n${n.items.map(([k, v]) => `${pad}${goJsonString(k)}: ${emitJson(v, depth + 1)}`).join(',\n')}\n${end}}`;
    case 'seq':
      if (n.items.length === 0) return '[]';
      return `[\n${n.items.map((v) => pad + emitJson(v, depth + 1)).join(',\n')}\n${end}]`;
    case 'str':
      return goJsonString(n.v);
    case 'int':
      return n.v.toString();
    case 'float':
      if (!Number.isFinite(n.v)) throw new SopsError(`Error marshaling to json: json: unsupported value: ${goFormatFloatF(n.v)}`, SopsExit.errorDumpingTree);
      return Object.is(n.v, -0) ? '-0' : JSON.stringify(n.v);
    case 'bool':
      return String(n.v);
    case 'null':
      return 'null';
  }
}
