// The consistency engine's doors: POST /repos/:slug/sync and GET /repos/:slug/drift, the MCP
// tool get_repo_drift (the SDK's own client over stdio), and `statehub sync` with its output
// and exit codes.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Client as McpClient } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { AjvJsonSchemaValidator } from '@modelcontextprotocol/sdk/validation/ajv';
import { expect } from 'chai';
import type { RunningApi } from '../src/api/server.ts';
import { LIMITS } from '../src/sync/files.ts';
import { syncReport } from '../src/sync/report.ts';
import { runCli } from './helpers/cli.ts';
import { useTestDatabase } from './helpers/database.ts';
import { startTestApi, type Client } from './helpers/http.ts';
import { cli } from './helpers/start.ts';
import { useSyncRepos, workplanText, type SyncRepoFixture } from './helpers/workplans.ts';

describe('consistency engine: HTTP, MCP and the CLI', function () {
  this.timeout(60_000);
  const t = useTestDatabase();
  const repo = useSyncRepos(t);
  const apis: RunningApi[] = [];
  after(() => Promise.all(apis.map((a) => a.close())));
  let r: SyncRepoFixture;
  let c: Client;
  before(async () => {
    r = await repo();
    r.write('HTTP-1.md', workplanText({ title: 'Over HTTP', status: 'active', topic: r.topic }, ['- [ ] T01 First']));
    const started = await startTestApi(t.db, { settings: r.settings });
    apis.push(started.api);
    c = started.client;
  });

  describe('POST /repos/:slug/sync and GET /repos/:slug/drift', function () {
    it('a dry run and the drift answer the same report and change nothing; a sync without a body applies it', async function () {
      const drift = await c.get(`/repos/${r.slug}/drift`);
      expect(drift.status).to.equal(200);
      expect(() => syncReport.strict().parse(drift.body)).to.not.throw();
      expect(drift.body).to.include({ repo: r.slug, dry_run: true, prune: false });
      const dry = await c.post(`/repos/${r.slug}/sync`, { dry_run: true });
      expect(dry.body).to.deep.equal(drift.body);
      expect((await t.db.query("SELECT 1 FROM statehub.workstreams WHERE slug = 'http-1'")).rowCount).to.equal(0);

      const real = await c.request('POST', `/repos/${r.slug}/sync`);
      expect(real.status).to.equal(200);
      expect(real.body.files[0]).to.include({ outcome: 'created', workplan_id: 'HTTP-1' });
      expect((await c.get(`/repos/${r.slug}/drift`)).body.summary.unchanged).to.equal(1);
    });

    it('answers 404 for an unknown repo, 409 when sync is off or the repo has no usable path, 422 over the file limit, 400 for unknown fields', async function () {
      const problem = async (reply: Promise<{ status: number; type: string; body: any }>) => {
        const { status, type, body } = await reply;
        expect(type).to.match(/^application\/problem\+json/);
        return [status, body.detail];
      };
      expect(await problem(c.post('/repos/nope/sync', {}))).to.deep.equal([404, 'repo nope does not exist']);
      const bad = await c.post(`/repos/${r.slug}/sync`, { dry_run: 'yes', force: true });
      expect(bad.status).to.equal(400);
      expect(bad.body.errors.map((e: { field: string; message: string }) => `${e.field}: ${e.message}`)).to.deep.equal([
        'dry_run: Invalid input: expected boolean, received string',
        '(body): Unrecognized key: "force"',
      ]);

      const off = await startTestApi(t.db);
      apis.push(off.api);
      expect(await problem(off.client.post(`/repos/${r.slug}/sync`))).to.deep.equal([409, 'sync is off on this hub: set WORKPLAN_ROOTS to the directories it may read workplan files from (colon-separated) and restart it']);

      const bare = await repo(r.root);
      await t.db.query('UPDATE statehub.repos SET local_path = NULL WHERE id = $1', [bare.repoId]);
      expect(await problem(c.post(`/repos/${bare.slug}/sync`))).to.deep.equal([409, `repo ${bare.slug} has no local_path: set it to the repo's checkout on the hub's host (PATCH /repos/${bare.slug})`]);

      // A regular file as local_path: realpath() of workplans/ under it fails with ENOTDIR.
      const filePath = await repo(r.root);
      writeFileSync(path.join(r.root, `${filePath.slug}.txt`), 'not a checkout');
      await t.db.query('UPDATE statehub.repos SET local_path = $2 WHERE id = $1', [filePath.repoId, path.join(r.root, `${filePath.slug}.txt`)]);
      const notADirectory = `the local_path of repo ${filePath.slug}, ${path.join(r.root, `${filePath.slug}.txt`)}, is not a directory: set it to the repo's checkout`;
      expect(await problem(c.post(`/repos/${filePath.slug}/sync`))).to.deep.equal([409, notADirectory]);
      expect(await problem(c.get(`/repos/${filePath.slug}/drift`))).to.deep.equal([409, notADirectory]);

      const many = await repo(r.root);
      for (let i = 0; i <= LIMITS.files; i++) writeFileSync(path.join(many.dir, 'workplans', `M-${i}.md`), '');
      expect(await problem(c.get(`/repos/${many.slug}/drift`))).to.deep.equal([422, `workplans/ holds more than ${LIMITS.files} .md files; a repo may have at most ${LIMITS.files}`]);
    });
  });

  it('get_repo_drift over stdio answers the dry-run report, valid against its output schema', async function () {
    const drifting = await repo(r.root);
    drifting.write('MCP-1.md', workplanText({ title: 'Seen by an agent', topic: drifting.topic }, ['- [?] T01 Bad box']));
    drifting.write('MCP-2.md', workplanText({ title: 'Fine', topic: drifting.topic }));
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [cli, 'mcp'],
      env: { PATH: process.env.PATH ?? '', DATABASE_URL: t.url, WORKPLAN_ROOTS: r.root },
      stderr: 'pipe',
    });
    const client = new McpClient({ name: 'state-hub-test', version: '1.0.0' });
    await client.connect(transport);
    try {
      const tool = (await client.listTools()).tools.find((x) => x.name === 'get_repo_drift')!;
      expect(tool.annotations).to.deep.equal({ readOnlyHint: true, openWorldHint: false });
      expect(Object.keys(tool.inputSchema.properties ?? {})).to.deep.equal(['repo']);
      const result = (await client.callTool({ name: 'get_repo_drift', arguments: { repo: drifting.slug } })) as CallToolResult;
      expect(result.isError ?? false).to.equal(false);
      const check = new AjvJsonSchemaValidator().getValidator(tool.outputSchema as never)(result.structuredContent);
      expect(check.valid, check.errorMessage).to.equal(true);
      const report = result.structuredContent as any;
      expect(report.files.map((f: { outcome: string }) => f.outcome)).to.deep.equal(['invalid', 'created']);
      expect(report.files[0].errors[0]).to.include({ line: 8 });
      expect((await t.db.query("SELECT 1 FROM statehub.workstreams WHERE slug = 'mcp-2'")).rowCount, 'a drift creates nothing').to.equal(0);
      const unknown = (await client.callTool({ name: 'get_repo_drift', arguments: { repo: 'no-such-repo' } })) as CallToolResult;
      expect(unknown.isError).to.equal(true);
      expect(unknown.content).to.deep.equal([{ type: 'text', text: 'repo no-such-repo does not exist' }]);
    } finally {
      await client.close();
    }
  });

  describe('statehub sync', function () {
    const env = () => ({ PATH: process.env.PATH ?? '', DATABASE_URL: t.url, WORKPLAN_ROOTS: r.root });

    it('prints a summary per repo and exits 0 when everything is reconciled, 1 when a file is invalid', async function () {
      const a = await repo(r.root);
      a.write('CLI-1.md', workplanText({ title: 'From the CLI', status: 'active', topic: a.topic }, ['- [x] T01 Done']));
      const ok = await runCli(['sync', a.slug], env());
      expect(ok.code, ok.stderr).to.equal(0);
      expect(ok.stdout).to.equal(
        `repo ${a.slug}: 1 file(s): 1 created, 0 updated, 0 unchanged, 0 invalid, 0 in conflict\n` +
          '  workplans/CLI-1.md: created CLI-1\n' +
          '  workplans/CLI-1.md: created CLI-1 T01\n' +
          '  workplans/CLI-1.md: updated CLI-1 T01 status: todo -> done\n' +
          '  workplans/CLI-1.md: updated CLI-1 status: planned -> active\n',
      );
      a.write('CLI-2.md', workplanText({ title: 'Broken', status: 'someday', topic: a.topic }));
      const bad = await runCli(['sync', a.slug, '--dry-run'], env());
      expect(bad.code).to.equal(1);
      expect(bad.stdout).to.equal(
        `repo ${a.slug}: 2 file(s): 0 created, 0 updated, 1 unchanged, 1 invalid, 0 in conflict (dry run, nothing changed)\n` +
          '  workplans/CLI-2.md:3: status must be one of planned, active, blocked, completed, cancelled\n',
      );
      const filePath = path.join(r.root, `${a.slug}.txt`);
      writeFileSync(filePath, 'not a checkout');
      await t.db.query('UPDATE statehub.repos SET local_path = $2 WHERE id = $1', [a.repoId, filePath]);
      const notDir = await runCli(['sync', a.slug], env());
      expect([notDir.code, notDir.stdout, notDir.stderr]).to.deep.equal([1, `repo ${a.slug}: not synced: the local_path of repo ${a.slug}, ${filePath}, is not a directory: set it to the repo's checkout\n`, '']);
    });

    it('--json prints the report as one JSON line per repo; --all takes every repo with a local_path and reports one it cannot sync', async function () {
      const a = await repo(r.root);
      a.write('JSON-1.md', workplanText({ title: 'As JSON', topic: a.topic }));
      const one = await runCli(['sync', a.slug, '--json', '--dry-run'], env());
      expect(one.code, one.stderr).to.equal(0);
      const lines = one.stdout.trim().split('\n');
      expect(lines).to.have.length(1);
      expect(() => syncReport.strict().parse(JSON.parse(lines[0]!))).to.not.throw();

      // A repo whose path is outside the roots: reported, the others still synced, exit 1.
      const stray = await repo(r.root);
      await t.db.query("UPDATE statehub.repos SET local_path = '/' WHERE id = $1", [stray.repoId]);
      mkdirSync(path.join(a.dir, 'workplans'), { recursive: true });
      const all = await runCli(['sync', '--all', '--json'], env());
      expect(all.code, all.stderr).to.equal(1);
      const reports = all.stdout.trim().split('\n').map((l) => JSON.parse(l));
      const { rows } = await t.db.query('SELECT slug FROM statehub.repos WHERE local_path IS NOT NULL ORDER BY slug');
      expect(reports.map((x) => x.repo)).to.deep.equal(rows.map((x) => x.slug));
      expect(reports.find((x) => x.repo === stray.slug)).to.deep.equal({ repo: stray.slug, error: `the local_path of repo ${stray.slug} is outside WORKPLAN_ROOTS` });
      expect(reports.find((x) => x.repo === a.slug).files[0].outcome).to.equal('created');
    });

    it('exits 2 for usage and configuration errors: no repo named, an unknown slug, WORKPLAN_ROOTS unset', async function () {
      const none = await runCli(['sync'], env());
      expect([none.code, none.stderr.split('\n')[0]]).to.deep.equal([2, 'statehub sync: give the slugs of the repos to sync, or --all']);
      const unknown = await runCli(['sync', 'no-such-repo'], env());
      expect([unknown.code, unknown.stderr.trim()]).to.deep.equal([2, 'statehub: no repo has the slug no-such-repo (statehub sync takes repo slugs)']);
      const off = await runCli(['sync', r.slug], { ...env(), WORKPLAN_ROOTS: '' });
      expect(off.code).to.equal(2);
      expect(off.stderr).to.match(/WORKPLAN_ROOTS is not set/);
      expect(off.stdout).to.equal('');
    });
  });
});
