// The consistency engine reads and parses workplan files in reader threads (src/sync/readers.ts)
// within a time budget per repo: the API's event loop keeps answering while any sync or drift
// runs, files the budget did not cover are reported instead of waited for, and `statehub sync`
// and MCP take the same path.
import { Client as McpClient } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { expect } from 'chai';
import { syncRepo } from '../src/sync/engine.ts';
import { listWorkplanFiles } from '../src/sync/files.ts';
import { readInThread } from '../src/sync/readers.ts';
import { inputOfRead } from '../src/sync/reading.ts';
import type { FileReport, SyncReport } from '../src/sync/report.ts';
import { runCli } from './helpers/cli.ts';
import { useTestDatabase } from './helpers/database.ts';
import { startTestApi } from './helpers/http.ts';
import { cli } from './helpers/start.ts';
import { useSyncRepos, workplanText, type SyncRepoFixture } from './helpers/workplans.ts';

const BUDGET_MS = 10;
/** What a file the reader thread did not finish within BUDGET_MS says: it was being read, or not reached. */
const LATE = new RegExp(
  `^(the file took longer than ${BUDGET_MS} ms to read \\(SYNC_READ_BUDGET\\): the hub stopped reading it` +
    `|not read: the repo's workplan files took longer than ${BUDGET_MS} ms to read \\(SYNC_READ_BUDGET\\), and the hub stopped before this one)$`,
);

/** Files that read slowly but plan fast: three tasks after about 1 MiB of prose. */
function writeSlowFiles(r: SyncRepoFixture, count: number, box = ' '): void {
  const prose = 'Context that the engine reads past, line after line.\n'.repeat(19_000);
  for (let i = 1; i <= count; i++) {
    r.write(`SLOW-${i}.md`, workplanText({ title: `Slow ${i}`, status: 'active', topic: r.topic }, [`- [${box}] T1 One`, '- [ ] T2 Two', '- [ ] T3 Three'], prose));
  }
}

/** The invalid files of a report, each of which must say the budget ran out. */
function lateFiles(report: SyncReport): FileReport[] {
  const late = report.files.filter((f) => f.outcome === 'invalid');
  for (const f of late) {
    expect(f.errors).to.have.length(1);
    expect(f.errors[0]!.line).to.equal(null);
    expect(f.errors[0]!.message).to.match(LATE);
  }
  return late;
}

describe('consistency engine: reader threads and their budget', function () {
  this.timeout(120_000);
  const t = useTestDatabase();
  const repo = useSyncRepos(t);

  it('files the budget did not cover are invalid, saying so, and nothing is pruned; the next sync reads them all', async function () {
    const r = await repo();
    writeSlowFiles(r, 12);
    expect((await r.sync()).summary).to.include({ files: 12, created: 12, invalid: 0 });
    r.remove('SLOW-12.md');
    writeSlowFiles(r, 11, 'x');

    const cut = await syncRepo(t.db, { ...r.settings, readBudgetMs: BUDGET_MS }, r.slug, { dryRun: false, prune: true });
    const late = lateFiles(cut);
    expect(late.length, 'reading 11 MiB takes longer than 10 ms').to.be.greaterThan(0);
    expect(cut.files.filter((f) => f.outcome !== 'invalid').every((f) => f.outcome === 'updated')).to.equal(true);
    // A file not read may be the one that now declares SLOW-12: no workstream is taken for gone.
    expect(cut.missing_from_file).to.deep.equal([]);
    const open = await t.db.query("SELECT status FROM statehub.workstreams WHERE slug = 'slow-12'");
    expect(open.rows).to.deep.equal([{ status: 'active' }]);

    // The thread that ran out of time was stopped; a new one reads everything.
    const whole = await r.sync({ prune: true });
    expect(whole.summary).to.include({ files: 11, invalid: 0 });
    expect(whole.summary.updated).to.equal(late.length);
    expect(whole.missing_from_file.map((m) => [m.item, m.pruned])).to.deep.include(['SLOW-12', true]);
  });

  it('more jobs than threads wait their turn; a thread whose job fails is replaced', async function () {
    const r = await repo();
    for (let i = 1; i <= 3; i++) r.write(`POOL-${i}.md`, workplanText({ title: `Pool ${i}`, topic: r.topic }, ['- [ ] T1 One']));
    const listing = (await listWorkplanFiles(r.dir, [r.root]))!;
    const ids = (files: Awaited<ReturnType<typeof readInThread>>) => files.map((f) => inputOfRead(f).parsed.workplan?.id);
    const jobs = await Promise.all(Array.from({ length: 5 }, () => readInThread(listing, [r.root], 10_000)));
    for (const files of jobs) expect(ids(files)).to.deep.equal(['POOL-1', 'POOL-2', 'POOL-3']);
    // Roots that are no list: not a problem of a file, so the job fails, and says so.
    let failure: unknown;
    await readInThread(listing, 'not a list' as never, 10_000).catch((err: unknown) => (failure = err));
    expect((failure as Error).message).to.match(/^reading the workplan files failed: /);
    expect(ids(await readInThread(listing, [r.root], 10_000))).to.deep.equal(['POOL-1', 'POOL-2', 'POOL-3']);
  });

  it('/healthz answers within 100 ms, each time, while a large drift and a large sync run', async function () {
    const drifting = await repo();
    const tasks = Array.from({ length: 2000 }, (_, i) => `- [ ] T${i + 1} Task number ${i + 1} of a large workplan`);
    for (let i = 1; i <= 300; i++) drifting.write(`BIG-${i}.md`, workplanText({ title: `Big ${i}`, topic: drifting.topic }, tasks));
    const syncing = await repo(drifting.root);
    for (let i = 1; i <= 10; i++) syncing.write(`WIDE-${i}.md`, workplanText({ title: `Wide ${i}`, topic: syncing.topic }, tasks));
    const { api, client } = await startTestApi(t.db, { settings: drifting.settings });
    try {
      let running = true;
      const work = Promise.all([client.get(`/repos/${drifting.slug}/drift`), client.post(`/repos/${syncing.slug}/sync`, {})]).finally(() => (running = false));
      const latencies: number[] = [];
      while (running) {
        const started = performance.now();
        expect((await client.get('/healthz')).status).to.equal(200);
        latencies.push(performance.now() - started);
      }
      const [drift, sync] = await work;
      expect([drift.status, drift.body.summary.created, drift.body.summary.invalid]).to.deep.equal([200, 300, 0]);
      expect([sync.status, sync.body.summary.created, sync.body.summary.invalid]).to.deep.equal([200, 10, 0]);
      expect(latencies.length, 'probes while they ran').to.be.greaterThan(20);
      expect(Math.max(...latencies), 'slowest /healthz, ms').to.be.below(100);
    } finally {
      await api.close();
    }
  });

  describe('statehub sync and MCP use the same readers and budget', function () {
    let r: SyncRepoFixture;
    before(async function () {
      r = await repo();
      writeSlowFiles(r, 12);
    });
    const env = () => ({ PATH: process.env.PATH ?? '', DATABASE_URL: t.url, WORKPLAN_ROOTS: r.root, SYNC_READ_BUDGET: `${BUDGET_MS}ms` });

    it('statehub sync --json', async function () {
      const run = await runCli(['sync', r.slug, '--json', '--dry-run'], env());
      expect(run.code, run.stderr).to.equal(1);
      const report = JSON.parse(run.stdout) as SyncReport;
      expect(lateFiles(report).length).to.be.greaterThan(0);
    });

    it('the MCP tool get_repo_drift over stdio', async function () {
      const transport = new StdioClientTransport({ command: process.execPath, args: [cli, 'mcp'], env: env(), stderr: 'pipe' });
      const client = new McpClient({ name: 'state-hub-test', version: '1.0.0' });
      await client.connect(transport);
      try {
        const result = (await client.callTool({ name: 'get_repo_drift', arguments: { repo: r.slug } })) as CallToolResult;
        expect(result.isError ?? false).to.equal(false);
        expect(lateFiles(result.structuredContent as unknown as SyncReport).length).to.be.greaterThan(0);
      } finally {
        await client.close();
      }
    });
  });
});
