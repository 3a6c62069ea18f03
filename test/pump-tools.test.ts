// The pump's operating tools against a real PostgreSQL and a private nats-server. Outbox rows are
// seeded with plain INSERTs, so these tests do not depend on the capture triggers. The CLI runs
// as a child process wherever its output or exit code is the behaviour under test.
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { connect, StorageType, type JetStreamClient, type JetStreamManager, type NatsConnection } from 'nats';
import { main } from '../src/cli/main.ts';
import { requeueFailed } from '../src/cli/tools/parked.ts';
import { pruneDelivered } from '../src/cli/tools/prune.ts';
import { outboxStatus } from '../src/cli/tools/status.ts';
import { runCli, type CliResult } from './helpers/cli.ts';
import { writeCredsFiles } from './helpers/creds.ts';
import { useTestDatabase } from './helpers/database.ts';
import { startNatsServer, type NatsServer } from './helpers/nats-server.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const STREAM = 'TOOLS_TEST_EVENTS';
const COMPLETED = 'org.statehub.workstream.completed';
const DAY = 86_400_000;

interface Seed {
  subject?: string;
  occurredAgo?: number;
  /** Published this long ago: the row is passed, and a batch row records it. */
  publishedAgo?: number;
  /** Parked as failed with this error (and passed). */
  failed?: string;
}

describe('pump tools (outbox status, requeue, prune, replay, events tail)', function () {
  this.timeout(60_000);
  const t = useTestDatabase();
  let nats: NatsServer;
  let nc: NatsConnection;
  let js: JetStreamClient;
  let jsm: JetStreamManager;

  before(async function () {
    nats = await startNatsServer();
    nc = await connect({ servers: nats.url });
    jsm = await nc.jetstreamManager();
    js = nc.jetstream();
    await jsm.streams.add({ name: STREAM, subjects: ['org.>'], storage: StorageType.File });
  });

  after(async function () {
    await nc?.close();
    await nats?.close();
  });

  beforeEach(async function () {
    await t.db.query('TRUNCATE statehub.outbox, statehub.outbox_parked');
    await t.db.query('DELETE FROM statehub.outbox_batches WHERE previous_id IS NOT NULL'); // all but the origin
    await jsm.streams.purge(STREAM);
  });

  function env(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
    return { ...process.env, DATABASE_URL: t.url, NATS_URL: nats.url, STREAM_NAME: STREAM, LOG_LEVEL: 'warn', ...extra };
  }

  function cli(args: string[], extraEnv: Record<string, string | undefined> = {}): Promise<CliResult> {
    return runCli(args, env(extraEnv));
  }

  function attributesFor(subject: string, n: number): Record<string, unknown> {
    if (subject === COMPLETED) {
      return { workstream_id: n, slug: `ws-${n}`, title: `Workstream ${n}`, topic_id: 1, repo_id: null, repo_goal_id: null };
    }
    return { decision_id: n, title: `Decision ${n}`, topic_id: null, workstream_id: null, decided_by: 'ops', rationale_snippet: 'because' };
  }

  /**
   * Inserts outbox rows in order; returns their ids and event ids. Delivered ones (published or
   * failed) carry txid 3, which every snapshot sees, so they are passed whatever their order;
   * pending ones keep their real txid, which the batches recorded here (all with the origin's
   * snapshot) do not see.
   */
  async function seed(rows: Seed[]): Promise<Array<{ id: number; event_id: string }>> {
    const out: Array<{ id: number; event_id: string }> = [];
    for (const [i, r] of rows.entries()) {
      const subject = r.subject ?? COMPLETED;
      const delivered = r.publishedAgo !== undefined || r.failed !== undefined;
      const { rows: inserted } = await t.db.query<{ id: number; event_id: string }>(
        `INSERT INTO statehub.outbox (subject, ordering_key, attributes, occurred_at, txid)
         VALUES ($1, $2, $3, now() - $4::bigint * interval '1 ms', CASE WHEN $5 THEN '3'::xid8 ELSE pg_current_xact_id() END)
         RETURNING id, event_id`,
        [subject, `entity:${i}`, attributesFor(subject, i + 1), r.occurredAgo ?? 0, delivered],
      );
      const row = inserted[0]!;
      if (r.failed !== undefined) {
        await t.db.query(`INSERT INTO statehub.outbox_parked (outbox_id, ordering_key, state, error) VALUES ($1, $2, 'failed', $3)`, [row.id, `entity:${i}`, r.failed]);
      }
      if (r.publishedAgo !== undefined) {
        await t.db.query(
          `INSERT INTO statehub.outbox_batches (previous_id, snapshot, events, published, duplicates, parked, first_id, last_id,
                                                stream, first_seq, last_seq, finished_at)
           SELECT max(id), (SELECT snapshot FROM statehub.outbox_batches ORDER BY id LIMIT 1), 1, 1, 0, 0, $1, $1,
                  'ACTIVITY_EVENTS', $2, $2, now() - $3::bigint * interval '1 ms'
             FROM statehub.outbox_batches`,
          [row.id, 1000 + i, r.publishedAgo],
        );
      }
      out.push(row);
    }
    return out;
  }

  async function streamCount(subject = COMPLETED): Promise<number> {
    const info = await jsm.streams.info(STREAM, { subjects_filter: subject });
    return info.state.subjects?.[subject] ?? 0;
  }

  describe('outbox status', function () {
    it('reports pending count, oldest pending age, failed events and the keys they block, and the last batch', async function () {
      const ids = await seed([
        { occurredAgo: 10 * 60_000 },
        { occurredAgo: 5 * 60_000 },
        {},
        { failed: 'catalog says no' },
        { failed: 'stream refused' },
        { occurredAgo: DAY, publishedAgo: 2 * 60_000 },
        { subject: 'org.statehub.decision.resolved', occurredAgo: DAY, publishedAgo: 60_000 },
      ]);
      const s = await outboxStatus(t.db);
      expect(s.pending).to.equal(3);
      expect(s.failed).to.equal(2);
      expect(s.oldest_pending_id).to.equal(ids[0]!.id);
      expect(s.oldest_pending_age_ms).to.be.within(10 * 60_000, 10 * 60_000 + 30_000);
      expect(s.blocked_key_count).to.equal(2);
      expect(s.blocked_keys.map((k) => [k.ordering_key, k.failed_id, k.error, k.waiting])).to.deep.equal([
        ['entity:3', ids[3]!.id, 'catalog says no', 0],
        ['entity:4', ids[4]!.id, 'stream refused', 0],
      ]);
      expect(s.last_batch).to.include({ events: 1, stream: 'ACTIVITY_EVENTS', first_seq: 1006, last_seq: 1006 });

      const json = await cli(['outbox', 'status', '--json']);
      expect(json.code, json.stderr).to.equal(0);
      expect(JSON.parse(json.stdout)).to.deep.include({ pending: 3, failed: 2, oldest_pending_id: ids[0]!.id, blocked_key_count: 2 });

      const human = await cli(['outbox', 'status']);
      expect(human.code, human.stderr).to.equal(0);
      expect(human.stdout).to.match(/^pending: +3 \(oldest 10m/m);
      expect(human.stdout).to.match(/^failed: +2, 0 waiting behind them, 2 key\(s\) blocked/m);
      expect(human.stdout).to.match(/^last batch: .*1 event\(s\), ACTIVITY_EVENTS #1006–1006/m);
      expect(human.stdout).to.match(new RegExp(`^  blocked entity:3 for .* by event ${ids[3]!.id} \\(0 waiting\\): catalog says no$`, 'm'));
      expect(human.stdout, 'no standbys on the shared server').to.match(/^standbys: +0 streaming, 0 with all WAL written so far$/m);
      const waiting = await cli(['outbox', 'status'], { PUMP_WAIT_FOR_STANDBYS: '1' });
      expect(waiting.stdout).to.match(/^standbys: +0 streaming, 0 with all WAL written so far; the pump publishes what 1 of them have \(PUMP_WAIT_FOR_STANDBYS\): with 0 streaming, nothing is published$/m);
    });

    it('reports an empty outbox as zero pending, and the origin batch as the last one', async function () {
      const s = await outboxStatus(t.db);
      expect(s).to.deep.include({ pending: 0, oldest_pending_age_ms: null, oldest_pending_id: null, failed: 0, waiting: 0, blocked_keys: [], blocked_key_count: 0 });
      expect(s.last_batch).to.include({ events: 0, stream: null });
    });

    it('--event says where one event is: pending, published (stream and sequences), failed; exit 1 for an unknown one', async function () {
      const [pending, published, failed] = await seed([{}, { publishedAgo: 1000 }, { failed: 'refused' }]);
      const ask = async (id: string) => {
        const r = await cli(['outbox', 'status', '--event', id, '--json']);
        expect(r.code, r.stderr).to.equal(0);
        return JSON.parse(r.stdout);
      };
      expect(await ask(pending!.event_id)).to.include({ state: 'pending', outbox_id: pending!.id });
      // Seeded as delivered before any batch: the origin batch (the migration's summary) delivered it.
      expect(await ask(published!.event_id)).to.include({ state: 'published', outbox_id: published!.id });
      expect(await ask(failed!.event_id)).to.include({ state: 'failed', error: 'refused' });
      const text = await cli(['outbox', 'status', '--event', failed!.event_id]);
      expect(text.stdout).to.match(new RegExp(`^event ${failed!.event_id} \\(outbox id ${failed!.id}, .*\\): failed since .*: refused\n$`));
      const unknown = await cli(['outbox', 'status', '--event', randomUUID()]);
      expect(unknown.code).to.equal(1);
      expect(unknown.stderr).to.match(/no event .* in the outbox/);
    });
  });

  describe('outbox requeue', function () {
    it('makes the chosen failed events waiting, and leaves every other id alone', async function () {
      const [a, b, pending] = await seed([{ failed: 'bad a' }, { failed: 'bad b' }, {}, { publishedAgo: 1000 }]);
      const result = await requeueFailed(t.db, [a!.id, pending!.id, 99_999]);
      expect(result).to.deep.equal({ changed: [a!.id], ignored: [pending!.id, 99_999] });

      const { rows } = await t.db.query('SELECT outbox_id, state, error FROM statehub.outbox_parked ORDER BY outbox_id');
      expect(rows).to.deep.equal([
        { outbox_id: a!.id, state: 'waiting', error: 'bad a' },
        { outbox_id: b!.id, state: 'failed', error: 'bad b' },
      ]);

      const all = await cli(['outbox', 'requeue', '--all']);
      expect(all.code, all.stderr).to.equal(0);
      expect(all.stdout).to.include(`requeued 1 failed event(s): ${b!.id}`);
      const after = await outboxStatus(t.db);
      expect(after).to.include({ failed: 0, waiting: 2, pending: 1 });

      const byId = await cli(['outbox', 'requeue', String(a!.id)]);
      expect(byId.stdout).to.include(`requeued 0 failed event(s)\nnot failed (waiting, published, skipped, never parked or absent), left alone: ${a!.id}`);
    });

    it('skip needs a reason and records it', async function () {
      const [a] = await seed([{ failed: 'bad a' }]);
      const noReason = await cli(['outbox', 'skip', String(a!.id)]);
      expect(noReason.code).to.equal(2);
      const skipped = await cli(['outbox', 'skip', String(a!.id), '--reason', 'replaced by hand']);
      expect(skipped.code, skipped.stderr).to.equal(0);
      expect(skipped.stdout).to.equal(`skipped 1 failed event(s): ${a!.id}\n`);
      const { rows } = await t.db.query('SELECT state, skip_reason, error FROM statehub.outbox_parked');
      expect(rows).to.deep.equal([{ state: 'skipped', skip_reason: 'replaced by hand', error: 'bad a' }]);
    });
  });

  describe('outbox prune', function () {
    it('deletes only delivered events older than the cutoff, never pending or failed ones', async function () {
      const ids = await seed([
        { occurredAgo: 41 * DAY, publishedAgo: 40 * DAY },
        { occurredAgo: 60 * DAY },
        { occurredAgo: 60 * DAY, failed: 'old failure' },
        { occurredAgo: 11 * DAY, publishedAgo: 10 * DAY },
        { occurredAgo: DAY, publishedAgo: DAY },
      ]);
      expect(await pruneDelivered(t.db, 30 * DAY)).to.deep.equal({ events: 1, batches: 1 });
      const left = async () => (await t.db.query<{ id: number }>('SELECT id FROM statehub.outbox ORDER BY id')).rows.map((r) => r.id);
      expect(await left()).to.deep.equal([ids[1]!.id, ids[2]!.id, ids[3]!.id, ids[4]!.id]);

      const run = await cli(['outbox', 'prune', '--older-than', '5d']);
      expect(run.code, run.stderr).to.equal(0);
      expect(run.stdout).to.equal('pruned 1 delivered event(s) and 1 batch row(s)\n');
      expect(await left()).to.deep.equal([ids[1]!.id, ids[2]!.id, ids[4]!.id]);
    });

    it('keeps the newest batch row, so outbox status still says when the pump last recorded a delta', async function () {
      await seed([{ occurredAgo: 50 * DAY, publishedAgo: 50 * DAY }, { occurredAgo: 40 * DAY, publishedAgo: 40 * DAY }, { occurredAgo: DAY }]);
      expect(await pruneDelivered(t.db, 30 * DAY)).to.deep.equal({ events: 2, batches: 1 }); // the 50-day batch row
      const status = await cli(['outbox', 'status']);
      expect(status.stdout).to.match(/last batch: .*\(40d ago\)/);
      expect(status.stdout).not.to.match(/never/);
    });

    it('defaults to OUTBOX_RETENTION', async function () {
      await seed([{ occurredAgo: 3 * DAY, publishedAgo: 3 * DAY }, { occurredAgo: DAY, publishedAgo: DAY }]);
      const run = await cli(['outbox', 'prune'], { OUTBOX_RETENTION: '2d' });
      expect(run.code, run.stderr).to.equal(0);
      expect(run.stdout).to.match(/^pruned 1 delivered event\(s\)/);
    });
  });

  describe("the pump's database role", function () {
    it('is enough for status, requeue and prune (prune goes through statehub.prune_outbox)', async function () {
      const [failed, , old] = await seed([{ failed: 'bad' }, {}, { occurredAgo: 40 * DAY, publishedAgo: 40 * DAY }, { publishedAgo: DAY }]);
      const result = await t.db.tx(async (q) => {
        await q.query('SET LOCAL ROLE statehub_pump');
        const status = await outboxStatus(q);
        const requeued = await requeueFailed(q, 'all');
        const pruned = await pruneDelivered(q, 30 * DAY);
        return { status, requeued, pruned };
      });
      expect(result.status).to.include({ pending: 1, failed: 1 });
      expect(result.requeued.changed).to.deep.equal([failed!.id]);
      expect(result.pruned.events).to.equal(1);
      const { rows } = await t.db.query('SELECT 1 FROM statehub.outbox WHERE id = $1', [old!.id]);
      expect(rows).to.have.length(0);
    });
  });

  describe('replay', function () {
    it('re-publishes the chosen rows, reports duplicates dropped within the window, and --new-ids stores them', async function () {
      const ids = await seed([
        { publishedAgo: 5000 },
        { subject: 'org.statehub.decision.resolved', publishedAgo: 5000 },
        { publishedAgo: 4000 },
        { publishedAgo: 3000 },
        {},
      ]);
      const bookkeeping = async () => [
        (await t.db.query('SELECT * FROM statehub.outbox_batches ORDER BY id')).rows,
        (await t.db.query('SELECT * FROM statehub.outbox_parked ORDER BY outbox_id')).rows,
      ];
      const before = await bookkeeping();

      const dry = await cli(['replay', '--subject', COMPLETED, '--dry-run']);
      expect(dry.code, dry.stderr).to.equal(0);
      expect(dry.stdout).to.include('1 matching row(s) are not published (pending, parked or skipped)');
      expect(dry.stdout).to.include(`would re-publish 3 row(s) (ids ${ids[0]!.id}..${ids[3]!.id})`);
      expect(await streamCount()).to.equal(0);

      const first = await cli(['replay', '--subject', COMPLETED]);
      expect(first.code, first.stderr).to.equal(0);
      expect(first.stdout).to.include("3 row(s) matched: 3 published, 0 dropped as duplicates by JetStream's window");
      expect(await streamCount()).to.equal(3);

      const again = await cli(['replay', '--from-id', String(ids[2]!.id)]);
      expect(again.code, again.stderr).to.equal(0);
      expect(again.stdout).to.include("2 row(s) matched: 0 published, 2 dropped as duplicates by JetStream's window");
      expect(again.stdout).to.include('--new-ids');
      expect(await streamCount()).to.equal(3);

      const fresh = await cli(['replay', '--from-id', String(ids[2]!.id), '--new-ids']);
      expect(fresh.code, fresh.stderr).to.equal(0);
      expect(fresh.stdout).to.include("2 row(s) matched: 2 published, 0 dropped as duplicates by JetStream's window");
      expect(await streamCount()).to.equal(5);

      // The copy carries a new Nats-Msg-Id but the event's own envelope id, for consumers to dedup on.
      const last = await jsm.streams.getMessage(STREAM, { last_by_subj: COMPLETED });
      const envelope = last.json<{ id: string; type: string; attributes: { workstream_id: number } }>();
      expect(envelope).to.include({ id: ids[3]!.event_id, type: COMPLETED });
      expect(envelope.attributes.workstream_id).to.equal(4);
      expect(last.header.get('Nats-Msg-Id')).to.match(new RegExp(`^${ids[3]!.event_id}:replay:`));

      const after = await bookkeeping();
      expect(after).to.deep.equal(before);
    });

    it('selects by --since, as a duration or an ISO time', async function () {
      await seed([{ occurredAgo: 3 * 3_600_000, publishedAgo: 1000 }, { occurredAgo: 60_000, publishedAgo: 1000 }]);
      const byDuration = await cli(['replay', '--since', '2h', '--dry-run']);
      expect(byDuration.stdout, byDuration.stderr).to.include('would re-publish 1 row(s)');
      const iso = new Date(Date.now() - 4 * 3_600_000).toISOString();
      const byTime = await cli(['replay', '--since', iso, '--dry-run']);
      expect(byTime.stdout, byTime.stderr).to.include('would re-publish 2 row(s)');
    });
  });

  describe('events tail', function () {
    it('prints an envelope published to the stream as one JSON line and exits 0 on SIGINT', async function () {
      const child = spawn(process.execPath, ['bin/statehub.js', 'events', 'tail'], { cwd: root, env: env() });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      try {
        await until(() => stderr.includes('tailing '), () => `tail never became ready: ${stderr}`);

        const envelope = {
          id: '6b0f2d1e-8a7c-4e8b-9d55-0f1a2b3c4d5e',
          type: COMPLETED,
          version: '1.0',
          timestamp: new Date().toISOString(),
          publisher: 'the-custodian/state-hub',
          attributes: attributesFor(COMPLETED, 7),
        };
        await js.publish('org.other.noise', 'not ours'); // outside the default filter
        await js.publish(COMPLETED, JSON.stringify(envelope, null, 2), { msgID: envelope.id });

        await until(() => stdout.includes('\n'), () => `no line on stdout; stderr: ${stderr}`);
        const lines = stdout.trim().split('\n');
        expect(lines).to.have.length(1);
        expect(JSON.parse(lines[0]!)).to.deep.equal(envelope);
      } finally {
        child.kill('SIGINT');
      }
      expect(await exited, stderr).to.equal(0);
    });
    it('--since-start prints the messages already in the stream, then new ones, and the first SIGINT ends it within 2 s with exit 0', async function () {
      const envelope = (n: number) => ({
        id: randomUUID(),
        type: COMPLETED,
        version: '1.0',
        timestamp: new Date().toISOString(),
        publisher: 'the-custodian/state-hub',
        attributes: attributesFor(COMPLETED, n),
      });
      const sent = [envelope(1), envelope(2), envelope(3)];
      for (const e of sent.slice(0, 2)) await js.publish(COMPLETED, JSON.stringify(e), { msgID: e.id });

      const child = spawn(process.execPath, ['bin/statehub.js', 'events', 'tail', '--since-start'], { cwd: root, env: env() });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      const lines = () => stdout.split('\n').filter(Boolean);
      let stopAsked = 0;
      try {
        await until(() => lines().length >= 2, () => `the stored messages never came: ${stdout} ${stderr}`);
        await js.publish(COMPLETED, JSON.stringify(sent[2]), { msgID: sent[2]!.id });
        await until(() => lines().length >= 3, () => `the new message never came: ${stdout} ${stderr}`);
        expect(lines().map((l) => JSON.parse(l))).to.deep.equal(sent);
      } finally {
        stopAsked = Date.now();
        child.kill('SIGINT');
      }
      expect(await exited, stderr).to.equal(0);
      expect(Date.now() - stopAsked).to.be.below(2000);
    });
  });

  describe('a wrong STREAM_NAME', function () {
    it('fails replay and tail with exit 1 and a line naming the stream', async function () {
      await seed([{ publishedAgo: 1000 }]);
      const [replayed, tailed] = await Promise.all([
        cli(['replay', '--subject', COMPLETED], { STREAM_NAME: 'NO_SUCH_STREAM' }),
        cli(['events', 'tail'], { STREAM_NAME: 'NO_SUCH_STREAM' }),
      ]);
      expect(replayed.code, replayed.stderr).to.equal(1);
      expect(replayed.stderr).to.include('stored by a stream other than NO_SUCH_STREAM');
      expect(tailed.code, tailed.stderr).to.equal(1);
      expect(tailed.stderr).to.include('stream NO_SUCH_STREAM not found');
      expect(await streamCount()).to.equal(0);
    });
  });

  describe('a bad NATS_CREDS_FILE', function () {
    it('stops replay and events tail with exit 2 and one line naming it, before they read or publish', async function () {
      // replay reports a failed row on stdout as soon as it has read the outbox.
      await seed([{ failed: 'set aside' }, { publishedAgo: 1000 }]);
      const creds = writeCredsFiles();
      try {
        const results = await Promise.all([
          cli(['replay', '--subject', COMPLETED], { NATS_CREDS_FILE: creds.malformed }),
          cli(['replay', '--subject', COMPLETED], { NATS_CREDS_FILE: creds.missing }),
          cli(['events', 'tail'], { NATS_CREDS_FILE: creds.malformed }),
        ]);
        for (const r of results) {
          expect(r.code, r.stderr).to.equal(2);
          expect(r.stderr).to.match(/^statehub: invalid configuration: NATS_CREDS_FILE: [^\n]+\n$/);
          expect(r.stdout).to.equal('');
        }
      } finally {
        creds.remove();
      }
      expect(await streamCount()).to.equal(0);
    });
  });

  describe('bad arguments', function () {
    // Usage is checked before any connection is opened, so these run in-process (fast); the
    // spawned cases below check that the exit code really reaches the shell.
    it('exit 2 with a usage message, before touching the database or NATS', async function () {
      const cases: string[][] = [
        ['outbox'],
        ['outbox', 'frobnicate'],
        ['outbox', 'status', '--bogus'],
        ['outbox', 'requeue'],
        ['outbox', 'requeue', 'x'],
        ['outbox', 'requeue', '1', '--all'],
        ['outbox', 'skip', '1'],
        ['outbox', 'skip', '--reason', 'why'],
        ['outbox', 'skip', '1', '--reason', '  '],
        ['outbox', 'status', '--event', 'not-a-uuid'],
        ['outbox', 'prune', '--older-than', 'soon'],
        ['replay'],
        ['replay', '--since', 'yesterday'],
        ['replay', '--subject', 'Org Bad'],
        ['replay', '--from-id', '0'],
        ['events'],
        ['events', 'tail', '--new', '--since-start'],
        ['events', 'tail', 'a.>', 'b.>'],
      ];
      // An unreachable database: a command that tried to connect would fail with 1, not 2.
      const unreachable = { DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none', NATS_URL: 'nats://127.0.0.1:1' };
      for (const args of cases) {
        const { code, stderr, stdout } = await captured(() => main(args, unreachable));
        expect(code, `${args.join(' ')}: ${stderr}`).to.equal(2);
        expect(stderr, args.join(' ')).to.match(/^statehub .*\n\nusage/s);
        expect(stdout, args.join(' ')).to.equal('');
      }
    });

    it('the CLI exits 2 for a usage error and for a tool that needs NATS_URL without it', async function () {
      const results = await Promise.all([
        cli(['outbox', 'requeue']),
        cli(['replay', '--from-id', '1'], { NATS_URL: undefined }),
        cli(['events', 'tail'], { NATS_URL: undefined }),
      ]);
      for (const r of results) {
        expect(r.code, r.stderr).to.equal(2);
        expect(r.stdout).to.equal('');
      }
      expect(results[1]!.stderr).to.equal('statehub: invalid configuration: replay needs NATS_URL\n');
      expect(results[2]!.stderr).to.equal('statehub: invalid configuration: events tail needs NATS_URL\n');
    });
  });
});

/** Runs fn with process.stdout and process.stderr captured. */
async function captured(fn: () => Promise<number>): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = { stdout: '', stderr: '' };
  const writeOut = process.stdout.write;
  const writeErr = process.stderr.write;
  process.stdout.write = ((chunk: string) => ((out.stdout += chunk), true)) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string) => ((out.stderr += chunk), true)) as typeof process.stderr.write;
  try {
    return { code: await fn(), ...out };
  } finally {
    process.stdout.write = writeOut;
    process.stderr.write = writeErr;
  }
}

/** Resolves once check() holds; fails with why() after 20 s. */
async function until(check: () => boolean, why: () => string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(why());
    await new Promise((r) => setTimeout(r, 50));
  }
}
