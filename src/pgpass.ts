// libpq password files (host:port:database:user:password, `*` matches anything, `:` and `\`
// escaped with `\`). The embedded database's password lives in one under the data dir, so its
// URL carries `?passfile=…` instead of the password: psql reads it, and so does every statehub
// command given that URL as DATABASE_URL (resolveDatabaseUrl).
import { randomBytes } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { readFile, rename, writeFile } from 'node:fs/promises';

const escape = (field: string) => field.replace(/[\\:]/g, (c) => `\\${c}`);

/** A new random password (base64url: no character libpq needs escaped, but we escape anyway). */
export function newPassword(): string {
  return randomBytes(24).toString('base64url');
}

/** Writes the file atomically with mode 0600; libpq ignores a password file others can read. */
export async function writePassfile(file: string, user: string, database: string, password: string): Promise<void> {
  const line = ['127.0.0.1', '*', database, user, password].map((f, i) => (i === 1 ? f : escape(f))).join(':');
  const tmp = `${file}.tmp`;
  await writeFile(tmp, `${line}\n`, { mode: 0o600 });
  await rename(tmp, file);
}

/** The entries of a password file, each as its five unescaped fields. */
function entries(text: string, file: string): string[][] {
  return text
    .split('\n')
    .filter((l) => l.trim() && !l.startsWith('#'))
    .map((line) => {
      const fields: string[] = [];
      let field = '';
      for (let i = 0; i < line.length; i++) {
        if (line[i] === '\\' && i + 1 < line.length) field += line[++i];
        else if (line[i] === ':' && fields.length < 4) (fields.push(field), (field = ''));
        else field += line[i];
      }
      fields.push(field);
      if (fields.length !== 5) throw new Error(`${file} is not a password file (host:port:database:user:password)`);
      return fields;
    });
}

/** The password of the file's first entry, or undefined when the file does not exist. */
export async function readPassfile(file: string): Promise<string | undefined> {
  const text = await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
  return text === undefined ? undefined : entries(text, file)[0]?.[4];
}

/**
 * A postgres URL with `passfile=` and no password, turned into one with the password of the
 * file's first matching entry (libpq's rules), for node-postgres, which reads no passfile
 * parameter. Any other URL comes back unchanged. Throws an Error naming the file when it is
 * missing, readable by others (libpq ignores such a file) or has no matching entry.
 */
export function resolveDatabaseUrl(url: string): string {
  // A URL of several hosts (pg-target.ts) cannot name a passfile, so it has nothing to resolve.
  if (!/[?&]passfile=/.test(url)) return url;
  const u = new URL(url);
  const file = u.searchParams.get('passfile');
  if (!file || u.password) return url;
  let text: string;
  try {
    if ((statSync(file).mode & 0o077) !== 0) throw new Error('others may read it (chmod 600 it)');
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`cannot use the password file ${file}: ${(err as Error).message}`, { cause: err });
  }
  const want = [u.hostname, u.port || '5432', decodeURIComponent(u.pathname.slice(1)) || decodeURIComponent(u.username), decodeURIComponent(u.username)];
  const match = entries(text, file).find((e) => want.every((w, i) => e[i] === '*' || e[i] === w));
  if (!match) throw new Error(`the password file ${file} has no entry for ${want.join(':')}`);
  u.searchParams.delete('passfile');
  u.password = encodeURIComponent(match[4]!);
  return u.toString();
}
