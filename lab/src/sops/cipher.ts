// The value cipher (sops' aes/cipher.go: AES256_GCM, each value's key path as additional data)
// and the MAC (sops.go ToBytes + SHA-512, "%X"), walked over a tree as Tree.Encrypt and
// Tree.Decrypt do, with the metadata's rules deciding which leaves are encrypted.
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { ENC_RE, SopsError, rulesOf, shouldBeEncrypted, str, walk, type MapNode, type Rules, type Scalar, type SopsMetadata } from '../harness';
import { SopsExit } from './exit-codes';
import { goFormatFloatF } from './go-float';

function b64(s: string, what: string): Buffer {
  if (!/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(s)) {
    throw new SopsError(`Error base64-decoding ${what}: illegal base64 data`);
  }
  return Buffer.from(s, 'base64');
}

function scalarBytes(s: Scalar): { type: string; bytes: Buffer } {
  switch (s.t) {
    case 'str':
      return { type: 'str', bytes: Buffer.from(s.v, 'utf8') };
    case 'int':
      return { type: 'int', bytes: Buffer.from(s.v.toString()) };
    case 'float':
      return { type: 'float', bytes: Buffer.from(goFormatFloatF(s.v)) };
    case 'bool':
      return { type: 'bool', bytes: Buffer.from(s.v ? 'True' : 'False') };
    case 'null':
      throw new SopsError('Value to encrypt has unsupported type <nil>');
  }
}

export function encryptValue(value: Scalar, key: Buffer, additionalData: string): string {
  if (value.t === 'str' && value.v === '') return '';
  const { type, bytes } = scalarBytes(value);
  const iv = randomBytes(32);
  const c = createCipheriv('aes-256-gcm', key, iv);
  c.setAAD(Buffer.from(additionalData, 'utf8'));
  const data = Buffer.concat([c.update(bytes), c.final()]);
  return `ENC[AES256_GCM,data:${data.toString('base64')},iv:${iv.toString('base64')},tag:${c.getAuthTag().toString('base64')},type:${type}]`;
}

export function decryptValue(ciphertext: string, key: Buffer, additionalData: string): Scalar {
  if (ciphertext === '') return str('');
  const m = ENC_RE.exec(ciphertext);
  if (!m) throw new SopsError(`Input string ${ciphertext} does not match sops' data format`);
  const [data, iv, tag] = [b64(m[1]!, 'data'), b64(m[2]!, 'iv'), b64(m[3]!, 'tag')];
  const type = m[4]!;
  if (iv.length === 0 || tag.length !== 16) throw new SopsError('Could not decrypt with AES_GCM: cipher: message authentication failed');
  let plain: Buffer;
  try {
    const d = createDecipheriv('aes-256-gcm', key, iv);
    d.setAAD(Buffer.from(additionalData, 'utf8'));
    d.setAuthTag(tag);
    plain = Buffer.concat([d.update(data), d.final()]);
  } catch {
    throw new SopsError('Could not decrypt with AES_GCM: cipher: message authentication failed');
  }
  const text = plain.toString('utf8');
  switch (type) {
    case 'str':
    case 'bytes':
      return str(text);
    case 'int':
    case 'int64': {
      if (!/^[+-]?\d+$/.test(text)) throw new SopsError(`strconv.Atoi: parsing "${text}": invalid syntax`);
      return { t: 'int', v: BigInt(text) };
    }
    case 'float': {
      const v = /^[+-]?(inf(inity)?)$/i.test(text) ? (text.startsWith('-') ? -Infinity : Infinity) : /^nan$/i.test(text) ? NaN : Number(text.replace(/_/g, ''));
      if (Number.isNaN(v) && !/^nan$/i.test(text)) throw new SopsError(`strconv.ParseFloat: parsing "${text}": invalid syntax`);
      return { t: 'float', v };
    }
    case 'bool': {
      if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(text)) return { t: 'bool', v: true };
      if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(text)) return { t: 'bool', v: false };
      throw new SopsError(`strconv.ParseBool: parsing "${text}": invalid syntax`);
    }
    default:
      throw new SopsError(`Unknown datatype: ${type}`);
  }
}

const MAC_ONLY_ENCRYPTED_INIT = Buffer.from('8a3fd2ad54ce66527b1034f3d147be0b0b975b3bf44f72c6fdadec8176f27d69', 'hex');

/** Tree.Decrypt: decrypts every leaf the rules say is encrypted and returns the computed MAC. */
export function decryptBranches(branches: MapNode[], metadata: SopsMetadata, dataKey: Buffer): { branches: MapNode[]; mac: string } {
  const rules = rulesOf(metadata);
  const hash = createHash('sha512');
  if (rules.macOnlyEncrypted) hash.update(MAC_ONLY_ENCRYPTED_INIT);
  const out = branches.map(
    (b) =>
      walk(b, [], [], (leaf, path) => {
        const enc = shouldBeEncrypted(path, rules);
        let v = leaf;
        if (enc) {
          if (leaf.t !== 'str')
            throw new SopsError(
              `Error decrypting tree: Error walking tree: Could not decrypt value: Input string ${String(leaf.t === 'null' ? '' : leaf.v)} does not match sops' data format`,
              SopsExit.errorDecryptingTree,
            );
          try {
            v = decryptValue(leaf.v, dataKey, path.join(':') + ':');
          } catch (e) {
            throw new SopsError(`Error decrypting tree: Error walking tree: Could not decrypt value: ${(e as Error).message}`, SopsExit.errorDecryptingTree);
          }
        }
        if (!rules.macOnlyEncrypted || enc) hash.update(scalarBytes(v).bytes);
        return v;
      }) as MapNode,
  );
  return { branches: out, mac: hash.digest('hex').toUpperCase() };
}

/** Tree.Encrypt: encrypts what the rules say and returns the MAC over the plaintext. */
export function encryptBranches(branches: MapNode[], rules: Rules, dataKey: Buffer): { branches: MapNode[]; mac: string } {
  const hash = createHash('sha512');
  if (rules.macOnlyEncrypted) hash.update(MAC_ONLY_ENCRYPTED_INIT);
  const out = branches.map(
    (b) =>
      walk(b, [], [], (leaf, path) => {
        const enc = shouldBeEncrypted(path, rules);
        if (!rules.macOnlyEncrypted || enc) hash.update(scalarBytes(leaf).bytes);
        return enc ? str(encryptValue(leaf, dataKey, path.join(':') + ':')) : leaf;
      }) as MapNode,
  );
  return { branches: out, mac: hash.digest('hex').toUpperCase() };
}
