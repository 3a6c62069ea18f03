// What operators load into their own tools (docs/monitoring/) and the backlog gauges behind it:
// every metric the alert rules, the dashboard and the metrics table of docs/operations.md name is
// one a running pump exports, and the backlog gauges come from a background reading, so a scrape
// answers at once, with the last reading and its age, while the backlog query hangs or fails.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import pg from 'pg';
import { parse } from 'yaml';
import { root } from './helpers/start.ts';
import { waitForLockWait } from './helpers/database.ts';
import { metric, probe, usePump, waitFor } from './helpers/pump.ts';

const read = (file: string) => readFileSync(path.join(root, file), 'utf8');
const namesIn = (text: string) => new Set(text.match(/\bstatehub_[a-z_]+\b/g) ?? []);

interface Rule {
  alert: string;
  expr: string;
  annotations?: { summary?: string };
}

describe('monitoring: rules, dashboard and the backlog reading', function () {
  const f = usePump();
  const scrape = async () => {
    const started = Date.now();
    const reply = await probe(f.pump.metricsPort, '/metrics');
    return { status: reply.status, text: reply.body, ms: Date.now() - started };
  };

  /** Every sample name a scrape shows, with a histogram's _bucket, _sum and _count. */
  async function exported(): Promise<Set<string>> {
    await waitFor('a first backlog reading', async () => metric((await scrape()).text, 'statehub_outbox_backlog_up') === 1, 15_000, 100);
    const names = new Set<string>();
    for (const m of (await scrape()).text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
      names.add(m[1]!);
      if (m[2] === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) names.add(m[1]! + suffix);
    }
    return names;
  }

  it('the alert rules are well-formed and name only exported metrics', async function () {
    const rules = (parse(read('docs/monitoring/statehub-pump.rules.yml')) as { groups: Array<{ rules: Rule[] }> }).groups.flatMap((g) => g.rules);
    expect(rules.length).to.be.greaterThan(5);
    for (const r of rules) expect(r.annotations?.summary, r.alert).to.be.a('string');
    const named = new Set(rules.flatMap((r) => [...namesIn(r.expr)]));
    const known = await exported();
    expect([...named].filter((n) => !known.has(n))).to.deep.equal([]);
    // The backlog gauges' own health is alerted on, absent() included.
    expect(named).to.include.members(['statehub_outbox_backlog_up', 'statehub_outbox_backlog_sample_age_seconds']);
    expect(rules.some((r) => r.expr.includes('absent(statehub_outbox_backlog'))).to.equal(true);
  });

  it('the Grafana dashboard is valid JSON and names only exported metrics', async function () {
    const dashboard = JSON.parse(read('docs/monitoring/statehub-pump.dashboard.json')) as { panels: Array<{ targets: Array<{ expr: string }> }> };
    const named = new Set(dashboard.panels.flatMap((p) => p.targets.flatMap((t) => [...namesIn(t.expr)])));
    expect(named.size).to.be.greaterThan(8);
    const known = await exported();
    expect([...named].filter((n) => !known.has(n))).to.deep.equal([]);
  });

  it('docs/operations.md lists every exported metric, and only those', async function () {
    const doc = read('docs/operations.md');
    const table = new Set([...doc.matchAll(/^\| `(statehub_[a-z_]+)` \|/gm)].map((m) => m[1]!));
    const known = await exported();
    const families = [...known].filter((n) => !/_(bucket|sum|count)$/.test(n) || !known.has(n.replace(/_(bucket|sum|count)$/, '')));
    expect([...table].sort()).to.deep.equal(families.sort());
  });

  it('while the backlog query hangs and then fails, scrapes answer at once with the last reading, its age, and up 0', async function () {
    await exported(); // a first good reading
    const holder = new pg.Client({ connectionString: f.url });
    await holder.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('LOCK TABLE statehub.outbox_parked IN ACCESS EXCLUSIVE MODE');
      await waitForLockWait(f.db, "application_name = 'statehub-pump' AND query LIKE '%WITH pending AS%'");
      const hanging = await scrape();
      expect(hanging.status).to.equal(200);
      expect(hanging.ms, 'a scrape does not wait for the database').to.be.below(1000);
      expect(metric(hanging.text, 'statehub_outbox_backlog')).to.equal(0);
      const age = metric(hanging.text, 'statehub_outbox_backlog_sample_age_seconds')!;
      await waitFor('the reading to age', async () => metric((await scrape()).text, 'statehub_outbox_backlog_sample_age_seconds')! > age + 1, 5000, 200);

      // The query fails (cancelled, as a statement timeout would): up 0, the gauges stay.
      await f.db.query("SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'statehub-pump' AND query LIKE '%WITH pending AS%' AND wait_event_type = 'Lock'");
      await waitFor('up 0 after the failure', async () => metric((await scrape()).text, 'statehub_outbox_backlog_up') === 0, 5000, 100);
      expect(metric((await scrape()).text, 'statehub_outbox_backlog')).to.equal(0);
    } finally {
      await holder.query('ROLLBACK').catch(() => undefined);
      await holder.end();
    }
    await waitFor('a fresh good reading', async () => {
      const text = (await scrape()).text;
      return metric(text, 'statehub_outbox_backlog_up') === 1 && metric(text, 'statehub_outbox_backlog_sample_age_seconds')! < 5;
    }, 15_000, 200);
  });
});
