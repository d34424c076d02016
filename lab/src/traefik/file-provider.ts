// The Traefik stand-in's file provider: reads the dynamic configuration (one file, or every YAML
// file of a directory, merged), and reloads it when the file or directory changes.
import { createHash } from 'node:crypto';
import { type FSWatcher, watch } from 'node:fs';
import { readFile, readdir } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { type CertFiles, type DynamicConf, toDynamicConf } from './dynamic';
import type { Logger } from './log';

/** A certificate pair as read when the configuration loaded: its contents, or why not. */
export interface ReadPair {
  certFile: string;
  cert?: string;
  key?: string;
  error?: string;
}

/** One load of the configuration, with the contents of the certificates it names. */
export interface LoadedConf {
  conf: DynamicConf;
  pairs: ReadPair[];
  def?: ReadPair;
}

/** Go's os.ReadFile error text. */
function goReadError(path: string, e: NodeJS.ErrnoException): string {
  const text: Record<string, string> = {
    ENOENT: 'no such file or directory',
    EACCES: 'permission denied',
    ENOTDIR: 'not a directory',
    ELOOP: 'too many levels of symbolic links',
  };
  if (e.code === 'EISDIR') return `read ${path}: is a directory`;
  return `open ${path}: ${text[e.code ?? ''] ?? e.message}`;
}

// Contents are read here, when the configuration is loaded, and never again: Traefik does not
// watch certificate files, so a certificate rotated on disk is served only after a reload.
async function readPair(c: CertFiles): Promise<ReadPair> {
  const read = async (p: string): Promise<string> => {
    try {
      return await readFile(p, 'utf8');
    } catch (e) {
      throw new Error(goReadError(p, e as NodeJS.ErrnoException));
    }
  };
  try {
    return { certFile: c.certFile, cert: await read(c.certFile), key: await read(c.keyFile) };
  } catch (e) {
    return { certFile: c.certFile, error: (e as Error).message };
  }
}

async function readConf(f: string): Promise<DynamicConf> {
  let raw: string;
  try {
    raw = await readFile(f, 'utf8');
  } catch (e) {
    throw new Error(`error reading configuration file: ${f} - ${goReadError(f, e as NodeJS.ErrnoException)}`);
  }
  if (!/\.(ya?ml|json)$/i.test(f)) throw new Error(`unsupported file extension for file: ${f} (lab stand-in: YAML only)`);
  return toDynamicConf(parseYaml(raw));
}

/**
 * Every *.yml/*.yaml of the directory, in name order: certificates add up, a router or service
 * keeps its first definition; tls.stores is not merged (the stand-in reads it from a lone file).
 */
async function readDirectory(dir: string): Promise<DynamicConf> {
  const merged: DynamicConf = {};
  const names = (await readdir(dir).catch(() => [] as string[])).filter((n) => /\.ya?ml$/i.test(n)).sort();
  for (const n of names) {
    const c = await readConf(join(dir, n));
    if (c.tls?.certificates) (merged.tls ??= {}).certificates = [...(merged.tls.certificates ?? []), ...c.tls.certificates];
    for (const kind of ['routers', 'services'] as const) {
      for (const [k, v] of Object.entries(c.http?.[kind] ?? {})) {
        const into = ((merged.http ??= {})[kind] ??= {}) as Record<string, unknown>;
        if (!(k in into)) into[k] = v;
      }
    }
  }
  return merged;
}

export interface FileProviderOptions {
  /** One file, or (exclusive) a directory. */
  file?: string;
  directory?: string;
  /** false: load once, never watch. */
  watch?: boolean;
}

export class FileProvider {
  private signature = '';
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly o: FileProviderOptions,
    private readonly log: Logger,
    /** Takes a configuration that differs from the last one taken. */
    private readonly apply: (loaded: LoadedConf) => void,
  ) {}

  /** The first load, then the watcher: as in Traefik, a provider whose first load fails is not started (so not watched either). */
  async start(): Promise<void> {
    this.log('info', 'Starting provider *file.Provider', { providerName: 'file' });
    const started = await this.reload(true).then(
      () => true,
      () => false,
    );
    if (!started || this.o.watch === false) return;
    try {
      // Traefik watches the file's directory and reacts to events naming the file only.
      const { file, directory } = this.o;
      this.watcher = watch(directory ?? dirname(file!), (_ev, name) => {
        if (file && name !== null && name !== basename(file)) return;
        clearTimeout(this.timer);
        this.timer = setTimeout(() => void this.reload(false).catch(() => undefined), 100);
      });
      this.watcher.on('error', (e) => this.log('error', `Watcher event error: ${e.message}`, { providerName: 'file' }));
    } catch (e) {
      this.log('error', `error adding file watcher: ${(e as Error).message}`, { providerName: 'file' });
    }
  }

  /** Reads the configuration and applies it if it changed; logs and rethrows a failure. */
  async reload(first: boolean): Promise<void> {
    try {
      const conf = this.o.file ? await readConf(this.o.file) : await readDirectory(this.o.directory!);
      const pairs = await Promise.all((conf.tls?.certificates ?? []).map(readPair));
      const defFiles = conf.tls?.stores?.default?.defaultCertificate;
      const def = defFiles && (await readPair(defFiles));
      const signature = createHash('sha256')
        .update(JSON.stringify([conf, pairs, def]))
        .digest('hex');
      if (signature === this.signature) {
        this.log('debug', 'Skipping same configuration', { providerName: 'file' });
        return;
      }
      this.log('debug', 'Configuration received', { providerName: 'file' });
      this.apply({ conf, pairs, def });
      this.signature = signature;
    } catch (e) {
      const msg = (e as Error).message;
      if (first) this.log('error', `Cannot start the provider *file.Provider: ${msg}`);
      else this.log('error', `Error occurred during watcher callback: ${msg}`, { providerName: 'file' });
      throw e;
    }
  }

  close(): void {
    clearTimeout(this.timer);
    this.watcher?.close();
  }
}
