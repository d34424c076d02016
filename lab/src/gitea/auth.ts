// Who is asking (services/auth): an OAuth2 token (oauth2.go: ?token=, ?access_token=, `token T`,
// `Bearer T`), then Basic (basic.go) with a token as the user name or the password.
import type http from 'node:http';
import { lc, type State, tokenHash, type UserRec, userById, userByName } from './state';

/** The caller, or why a credential was refused (a 401); neither for an anonymous request. */
export interface Auth {
  user?: UserRec;
  error?: string;
}

const byToken = (st: State, tok: string): UserRec | undefined => {
  const h = tokenHash(tok);
  const t = st.tokens.find((x) => x.sha256 === h);
  return t ? userById(st, t.uid) : undefined;
};

function oauthToken(url: URL, auth: string): string | undefined {
  const tok = url.searchParams.get('token') || url.searchParams.get('access_token');
  if (tok) return tok;
  const f = auth.trim().split(/\s+/);
  return f.length === 2 && (f[0] === 'token' || lc(f[0]!) === 'bearer') ? f[1] : undefined;
}

function basic(st: State, auth: string): Auth | undefined {
  const [scheme, b64] = auth.split(' ', 2);
  if (!scheme || lc(scheme) !== 'basic' || b64 === undefined) return undefined;
  const dec = Buffer.from(b64, 'base64').toString();
  const i = dec.indexOf(':');
  const [uname, passwd] = i < 0 ? [dec, ''] : [dec.slice(0, i), dec.slice(i + 1)];
  const user = byToken(st, passwd === '' || passwd === 'x-oauth-basic' ? uname : passwd);
  if (user) return { user };
  const named = userByName(st, uname);
  return { error: `user does not exist [uid: ${named?.id ?? 0}, name: ${named?.login ?? uname}]` };
}

export function authenticate(st: State, req: http.IncomingMessage, url: URL): Auth {
  const auth = req.headers.authorization ?? '';
  let error: string | undefined;
  const tok = oauthToken(url, auth);
  if (tok) {
    const user = byToken(st, tok);
    if (user) return { user };
    error = 'user does not exist [uid: 0, name: ]';
  }
  const b = basic(st, auth);
  return b?.user ? b : { error: error ?? b?.error };
}
