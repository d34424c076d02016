// sops-install-secrets' failures, worded as Go prints them: wrapped errors `prefix: cause` and
// *PathError texts `op path: errno`.

/** Every failure of the real program: printed as `<argv0>: <message>`, exit status 1. */
export class InstallError extends Error {
  override name = 'InstallError';
}

export const fail = (msg: string): never => {
  throw new InstallError(msg);
};
export const msgOf = (e: unknown) => (e instanceof Error ? e.message : String(e));
/** fmt.Errorf("prefix: %w", e). */
export const wrap = (prefix: string, e: unknown): never => fail(`${prefix}: ${msgOf(e)}`);
export const goQuote = (s: string) => JSON.stringify(s);

const GO_ERRNO: Record<string, string> = { EEXIST: 'file exists', EISDIR: 'is a directory' };
/** Go's errno text for a Node fs error (libuv and Go share strerror's wording but for a few). */
export function errno(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  if (err.code && GO_ERRNO[err.code]) return GO_ERRNO[err.code]!;
  return /^[A-Z0-9_]+: ([^,]+)/.exec(err.message ?? '')?.[1] ?? msgOf(e);
}
export const isENOENT = (e: unknown) => (e as NodeJS.ErrnoException).code === 'ENOENT';

/** Run `fn`, turning an fs error into Go's *PathError text `op path: errno`. */
export function io<T>(op: string, path: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw new InstallError(`${op} ${path}: ${errno(e)}`);
  }
}
