import { expect } from 'chai';
import { readFile } from 'node:fs/promises';
import { useTestDatabase } from './helpers/database.ts';

describe('docs/status-transitions.md', () => {
  const t = useTestDatabase();

  it('lists exactly the transitions the database enforces', async () => {
    const file = await readFile(new URL('../docs/status-transitions.md', import.meta.url), 'utf8');
    // The transitions table, not the other tables of the page.
    const doc = file.slice(file.indexOf('| entity | from | to |'), file.indexOf('## Rules beyond the table'));
    const documented = new Set<string>();
    for (const m of doc.matchAll(/^\| (\w+) \| ([\w()]+) \| ([\w, ]+) \|$/gm)) {
      if (m[1] === 'entity') continue;
      for (const to of m[3]!.split(',')) documented.add(`${m[1]} ${m[2] === '(new)' ? '-' : m[2]} ${to.trim()}`);
    }
    const { rows } = await t.db.query(`SELECT entity || ' ' || coalesce(from_status, '-') || ' ' || to_status AS rule FROM statehub.status_transitions`);
    expect([...documented].sort()).to.deep.equal(rows.map((r) => r.rule).sort());
  });
});
