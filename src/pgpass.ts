// The embedded database's password lives in a libpq password file under the data dir, so psql
// connects with `?passfile=…` and the password is never printed. One line:
// 127.0.0.1:*:statehub:statehub:<password>, with `:` and `\` escaped as libpq requires.
import { randomBytes } from 'node:crypto';
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

/** The password of the file's first entry, or undefined when the file does not exist. */
export async function readPassfile(file: string): Promise<string | undefined> {
  const text = await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
  if (text === undefined) return undefined;
  const line = text.split('\n').find((l) => l && !l.startsWith('#')) ?? '';
  const fields: string[] = [];
  let field = '';
  for (let i = 0; i < line.length; i++) {
    if (line[i] === '\\' && i + 1 < line.length) field += line[++i];
    else if (line[i] === ':' && fields.length < 4) (fields.push(field), (field = ''));
    else field += line[i];
  }
  fields.push(field);
  if (fields.length !== 5) throw new Error(`${file} is not a password file (host:port:database:user:password)`);
  return fields[4];
}
