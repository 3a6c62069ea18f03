// The three-way merge, as docs/workplans.md states it: the table there is read and each row
// checked against mergeField, and then the whole table is played against a real database,
// for workstream and task statuses, including the changes the database refuses.
import { readFileSync } from 'node:fs';
import { expect } from 'chai';
import { mergeField, type Merge } from '../src/sync/merge.ts';
import { useTestDatabase } from './helpers/database.ts';
import { useSyncRepos, workplanText } from './helpers/workplans.ts';

const doc = readFileSync(new URL('../docs/workplans.md', import.meta.url), 'utf8');

/** The rows of the merge table: base, file, hub and the first word of what the sync does. */
function documentedRows(): Array<{ base: string; file: string; hub: string; merge: string }> {
  const table = doc.split('\n').filter((l) => /^\| (none|A) \| [ABC] \| [ABC] \|/.test(l));
  return table.map((l) => {
    const [base, file, hub, what] = l.split('|').slice(1, 5).map((c) => c.trim());
    return { base: base!, file: file!, hub: hub!, merge: what!.split(/[:\s]/)[0]! };
  });
}

const words: Record<string, Merge> = { agree: 'agree', apply: 'apply', nothing: 'same', file: 'behind', conflict: 'conflict' };

describe('consistency engine: the three-way merge', function () {
  it('docs/workplans.md states every case of base, file and hub, and mergeField does what each row says', function () {
    const rows = documentedRows();
    // Up to renaming the values, these are all the cases: 2 with no base, 5 with one.
    expect(rows.map((r) => `${r.base}${r.file}${r.hub}`)).to.deep.equal(['noneAA', 'noneAB', 'AAA', 'AAB', 'ABA', 'ABB', 'ABC']);
    for (const r of rows) {
      const v = (x: string) => ({ A: 'planned', B: 'active', C: 'blocked' })[x] as string;
      expect(mergeField(r.base === 'none' ? undefined : v(r.base), v(r.file), v(r.hub)), `${r.base} ${r.file} ${r.hub}`).to.equal(words[r.merge]);
    }
  });

  describe('played against the database', function () {
    const t = useTestDatabase();
    const repo = useSyncRepos(t);
    let n = 0;
    /** The first row of an ad hoc query. */
    const first = async (sql: string, params: unknown[]): Promise<any> => (await t.db.query(sql, params)).rows[0];

    interface Case {
      base: string | null;
      file: string;
      hub: string;
      /** The hub's status after the sync, and how the sync reports it. */
      after: string;
      report: 'nothing' | 'change' | 'behind' | 'conflict';
      /** The base recorded after the sync (workstream cases). */
      baseAfter?: string | undefined;
    }

    const status = (entity: 'workstream' | 'task', id: number) =>
      first(`SELECT status FROM statehub.${entity}s WHERE id = $1`, [id]).then((r) => r.status as string);

    /**
     * Workstream status. Base none: the workstream was made through the API and a file now
     * declares it. Otherwise a sync recorded the base, then the hub (API) and the file moved.
     */
    const workstreamCases: Case[] = [
      { base: null, file: 'active', hub: 'active', after: 'active', report: 'nothing', baseAfter: 'active' },
      { base: null, file: 'active', hub: 'planned', after: 'active', report: 'change', baseAfter: 'active' },
      { base: null, file: 'active', hub: 'completed', after: 'completed', report: 'conflict', baseAfter: undefined },
      { base: 'active', file: 'active', hub: 'active', after: 'active', report: 'nothing', baseAfter: 'active' },
      { base: 'active', file: 'active', hub: 'blocked', after: 'blocked', report: 'behind', baseAfter: 'active' },
      { base: 'active', file: 'blocked', hub: 'active', after: 'blocked', report: 'change', baseAfter: 'blocked' },
      { base: 'completed', file: 'active', hub: 'completed', after: 'completed', report: 'conflict', baseAfter: 'completed' },
      { base: 'active', file: 'blocked', hub: 'blocked', after: 'blocked', report: 'nothing', baseAfter: 'blocked' },
      { base: 'active', file: 'planned', hub: 'blocked', after: 'blocked', report: 'conflict', baseAfter: 'active' },
    ];

    function expectReport(file: { changes: any[]; conflicts: any[]; file_behind_hub: any[] }, item: string, c: Case): void {
      const mine = (list: any[]) => list.filter((x) => x.item === item && x.field === 'status');
      expect(mine(file.changes).length, 'changes').to.equal(c.report === 'change' ? 1 : 0);
      expect(mine(file.conflicts).length, 'conflicts').to.equal(c.report === 'conflict' ? 1 : 0);
      expect(mine(file.file_behind_hub).length, 'file behind hub').to.equal(c.report === 'behind' ? 1 : 0);
      if (c.report === 'conflict') expect(mine(file.conflicts)[0]).to.include({ file: c.file, hub: c.hub });
    }

    for (const c of workstreamCases) {
      it(`workstream: base ${c.base ?? 'none'}, file ${c.file}, hub ${c.hub} → hub ${c.after}, ${c.report}`, async function () {
        const r = await repo();
        const id = `WS-${++n}`;
        const write = (s: string) => r.write(`${id}.md`, workplanText({ title: 'T', status: s, topic: r.topic }));
        let wsId: number;
        if (c.base === null) {
          const topicId = (await first('SELECT id FROM statehub.topics WHERE slug = $1', [r.topic])).id;
          wsId = (await first("INSERT INTO statehub.workstreams (slug, title, topic_id) VALUES ($1, 'T', $2) RETURNING id", [id.toLowerCase(), topicId])).id;
          if (c.hub !== 'planned') await t.db.query("UPDATE statehub.workstreams SET status = 'active' WHERE id = $1", [wsId]);
          if (!['planned', 'active'].includes(c.hub)) await t.db.query('UPDATE statehub.workstreams SET status = $2 WHERE id = $1', [wsId, c.hub]);
        } else {
          write(c.base);
          wsId = (await r.sync()).files[0]!.workstream_id!;
          expect(await status('workstream', wsId)).to.equal(c.base);
          if (c.hub !== c.base) await t.db.query('UPDATE statehub.workstreams SET status = $2 WHERE id = $1', [wsId, c.hub]);
        }
        write(c.file);
        const { files } = await r.sync();
        expect(files[0]!.workstream_id).to.equal(wsId);
        expectReport(files[0]!, id, c);
        expect(await status('workstream', wsId)).to.equal(c.after);
        const base = (await first('SELECT base FROM statehub.workplan_workstreams WHERE workstream_id = $1', [wsId])).base;
        expect(base.status, 'the base after the sync').to.equal(c.baseAfter);
      });
    }

    const taskCases: Case[] = [
      { base: 'todo', file: 'todo', hub: 'todo', after: 'todo', report: 'nothing' },
      { base: 'todo', file: 'todo', hub: 'in_progress', after: 'in_progress', report: 'behind' },
      { base: 'todo', file: 'done', hub: 'todo', after: 'done', report: 'change' },
      { base: 'done', file: 'todo', hub: 'done', after: 'done', report: 'conflict' },
      { base: 'todo', file: 'blocked', hub: 'blocked', after: 'blocked', report: 'nothing' },
      { base: 'todo', file: 'done', hub: 'cancelled', after: 'cancelled', report: 'conflict' },
    ];
    const box: Record<string, string> = { todo: ' ', in_progress: '/', blocked: '!', done: 'x', cancelled: '-' };

    for (const c of taskCases) {
      it(`task: base ${c.base}, file ${c.file}, hub ${c.hub} → hub ${c.after}, ${c.report}`, async function () {
        const r = await repo();
        const id = `TK-${++n}`;
        const write = (s: string) => r.write(`${id}.md`, workplanText({ title: 'T', status: 'active', topic: r.topic }, [`- [${box[s]}] T01 The task`]));
        write(c.base!);
        const wsId = (await r.sync()).files[0]!.workstream_id!;
        const taskId = (await first('SELECT id FROM statehub.tasks WHERE workstream_id = $1', [wsId])).id;
        if (c.hub !== c.base) await t.db.query('UPDATE statehub.tasks SET status = $2 WHERE id = $1', [taskId, c.hub]);
        write(c.file);
        const { files } = await r.sync();
        expectReport(files[0]!, `${id} T01`, c);
        expect(await status('task', taskId)).to.equal(c.after);
      });
    }

    it('a title changed in both the file and the hub is a conflict; the hub keeps its title and the file its other changes', async function () {
      const r = await repo();
      r.write('TT-1.md', workplanText({ title: 'Base', status: 'active', topic: r.topic }, ['- [ ] T01 Task']));
      const wsId = (await r.sync()).files[0]!.workstream_id!;
      await t.db.query("UPDATE statehub.workstreams SET title = 'Hub title' WHERE id = $1", [wsId]);
      r.write('TT-1.md', workplanText({ title: 'File title', status: 'active', topic: r.topic }, ['- [x] T01 Task']));
      const { files } = await r.sync();
      expect(files[0]!.outcome).to.equal('conflict');
      expect(files[0]!.conflicts).to.deep.equal([
        { item: 'TT-1', field: 'title', base: 'Base', file: 'File title', hub: 'Hub title', reason: 'changed in both the file and the hub since the last sync' },
      ]);
      expect(files[0]!.changes).to.deep.equal([{ item: 'TT-1 T01', change: 'updated', field: 'status', from: 'todo', to: 'done' }]);
      expect((await first('SELECT title FROM statehub.workstreams WHERE id = $1', [wsId])).title).to.equal('Hub title');
    });
  });
});
