// The catalog lives in three places: the capture SQL (sql/), src/events/catalog.ts and
// docs/nats-event-subjects.md. This fails when they disagree on subjects, attribute names or
// which attributes may be null; it also pins the wake-up constants shared with the pump.
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { catalog, SUBJECTS } from '../src/events/catalog.ts';
import { WAKE_CHANNEL, WAKE_LOCK_KEY, WAKE_PAYLOAD } from '../src/events/wake.ts';
import { SQL_DIR } from '../src/migrate.ts';

type Catalog = Record<string, string[]>;

const sorted = (c: Catalog): Catalog =>
  Object.fromEntries(Object.entries(c).sort(([a], [b]) => a.localeCompare(b)).map(([s, keys]) => [s, [...keys].sort()]));

/** The arguments of the call whose '(' is at `open`, split at top-level commas. */
function callArguments(text: string, open: number): string[] {
  const args: string[] = [];
  let depth = 0;
  let quoted = false;
  let start = open + 1;
  for (let i = open; i < text.length; i++) {
    const ch = text[i];
    if (ch === "'") quoted = !quoted;
    if (quoted) continue;
    if (ch === '(') depth++;
    else if (ch === ')' && --depth === 0) return [...args, text.slice(start, i).trim()];
    else if (ch === ',' && depth === 1) {
      args.push(text.slice(start, i).trim());
      start = i + 1;
    }
  }
  throw new Error('unbalanced parentheses');
}

/** Subject literal → keys of the jsonb_build_object that follows it, in every sql/ file. */
function catalogInSql(): Catalog {
  const found: Catalog = {};
  for (const file of readdirSync(SQL_DIR).filter((f) => f.endsWith('.sql'))) {
    const sql = readFileSync(path.join(SQL_DIR, file), 'utf8').replace(/--.*$/gm, '');
    for (const m of sql.matchAll(/'(org\.statehub\.[a-z_.]+)'/g)) {
      const open = sql.indexOf('jsonb_build_object(', m.index) + 'jsonb_build_object'.length;
      expect(open, `${file}: no jsonb_build_object after ${m[1]}`).to.be.greaterThan(m.index);
      const args = callArguments(sql, open);
      expect(found, `${file}: ${m[1]} captured twice`).not.to.have.property(m[1]!);
      found[m[1]!] = args.filter((_, i) => i % 2 === 0).map((a) => a.replace(/^'|'$/g, ''));
    }
  }
  return found;
}

const DOC = path.join(SQL_DIR, '..', 'docs', 'nats-event-subjects.md');

/** Subject → "name" or "name?" (nullable) from the events table of the doc. */
function catalogInDocs(): Catalog {
  const found: Catalog = {};
  for (const line of readFileSync(DOC, 'utf8').split('\n')) {
    const cells = line.split('|').map((c) => c.trim());
    const subject = /^`(org\.statehub\.[a-z_.]+)`$/.exec(cells[1] ?? '')?.[1];
    if (!subject || cells.length < 6) continue;
    found[subject] = cells[4]!.split(';').map((item) => {
      const name = /^`([a-z_]+)`/.exec(item.trim())?.[1];
      expect(name, `${subject}: cannot read attribute from "${item}"`).to.be.a('string');
      return item.includes('or null') ? `${name}?` : name!;
    });
  }
  return found;
}

function catalogInTypeScript(withNullability: boolean): Catalog {
  return Object.fromEntries(
    SUBJECTS.map((s) => {
      const shape = catalog[s].shape as Record<string, { safeParse(v: unknown): { success: boolean } }>;
      return [s, Object.keys(shape).map((k) => (withNullability && shape[k]!.safeParse(null).success ? `${k}?` : k))];
    }),
  );
}

describe('catalog sync', () => {
  it('catalog — sql/ captures exactly the subjects and attribute names of src/events/catalog.ts', () => {
    expect(sorted(catalogInSql())).to.deep.equal(sorted(catalogInTypeScript(false)));
  });

  it('catalog — docs/nats-event-subjects.md lists the same subjects, attributes and nullability as src/events/catalog.ts', () => {
    expect(sorted(catalogInDocs())).to.deep.equal(sorted(catalogInTypeScript(true)));
  });

  it('wake-up — sql/800_wake_pump.sql uses the channel, payload and lock key exported by src/events/wake.ts', () => {
    const sql = readFileSync(path.join(SQL_DIR, '800_wake_pump.sql'), 'utf8').replace(/--.*$/gm, '');
    expect(sql).to.include(`pg_try_advisory_xact_lock_shared(${WAKE_LOCK_KEY})`);
    expect(sql).to.include(`pg_notify('${WAKE_CHANNEL}', '${WAKE_PAYLOAD}')`);
    expect(sql.match(/pg_notify\(/g)).to.have.length(1);
  });
});
