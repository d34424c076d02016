// main.go's decryptSecrets: every secret's value, in memory, before anything is written.
import { readFileSync } from 'node:fs';
import { SopsError, type SopsValue } from '../harness';
import { emitJson, emitYaml } from '../sops/emit';
import { SopsExit } from '../sops/exit-codes';
import { decryptSopsFileDetailed, type DecryptedSops } from '../sops/files';
import type { InstallContext } from './context';
import { errno, fail, goQuote, msgOf, wrap } from './errors';
import { recurseSecretKey } from './secret-key';

export async function decryptSecrets(ctx: InstallContext, identityFiles: string[]): Promise<void> {
  const decrypted = new Map<string, DecryptedSops>();
  for (const s of ctx.secrets) {
    let d = decrypted.get(s.sopsFile);
    if (!d) {
      let text: string;
      try {
        text = readFileSync(ctx.r(s.sopsFile), 'utf8');
      } catch (e) {
        return fail(`failed to decrypt '${s.sopsFile}': Failed to read ${goQuote(s.sopsFile)}: open ${s.sopsFile}: ${errno(e)}`);
      }
      try {
        d = await decryptSopsFileDetailed(text, s.format === 'yaml' ? 'yaml' : 'json', identityFiles);
      } catch (e) {
        return fail(`failed to decrypt '${s.sopsFile}': ${sopsLibraryError(e)}`);
      }
      decrypted.set(s.sopsFile, d);
    }
    if (s.format === 'binary') {
      const data = d.tree['data'];
      if (data === undefined) fail(`failed to decrypt '${s.sopsFile}': error emitting binary store: no binary data found in tree`);
      if (typeof data !== 'string') fail(`failed to decrypt '${s.sopsFile}': error emitting binary store: 'data' key in tree does not have a string value`);
      s.value = Buffer.from(data as string);
    } else if (s.key === '') {
      s.value = Buffer.from(s.format === 'yaml' ? emitYaml(d.branches) : emitJson(d.branches[0] ?? { t: 'map', items: [] }) + '\n');
    } else {
      try {
        s.value = Buffer.from(recurseSecretKey(s.format as 'yaml' | 'json', d.tree as Record<string, SopsValue>, s.key));
      } catch (e) {
        wrap(`secret ${s.name} in ${s.sopsFile} is not valid`, e);
      }
    }
  }
}

/** The sops library's error text (decrypt.File), as sops-install-secrets wraps it. */
function sopsLibraryError(e: unknown): string {
  if (e instanceof SopsError) {
    const key = /^Error getting data key: \d+ successful groups required, got \d+/.exec(e.message);
    if (key) return key[0];
    const mac = /^MAC mismatch\. File has (.*), computed (.*)$/.exec(e.message);
    if (mac) return `Failed to verify data integrity. expected mac ${goQuote(mac[1] === 'no MAC' ? '' : mac[1]!)}, got ${goQuote(mac[2]!)}`;
    if (e.exitCode === SopsExit.macMismatch) return `Failed to decrypt original mac: ${e.message.replace(/^Cannot decrypt MAC: /, '')}`;
  }
  return msgOf(e);
}
