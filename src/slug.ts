// The slug rule of every table that has a slug (the CHECKs of migrations/0001), for the code
// that checks a slug before the database does. No imports: the CLI's argument parsers use it.
export const SLUG_PATTERN = /^[a-z0-9][a-z0-9._-]{0,99}$/;
export const SLUG_RULE = 'lowercase letters, digits, ".", "_" or "-", at most 100, starting with a letter or digit';
