// Where do pgbench's backends spend their time? Samples pg_stat_activity of the bench database
// every few milliseconds while a measurement runs and reports the share of each wait event
// ("CPU" when active without a wait), plus how often the pump's busy flag was true.
import pg from 'pg';

export interface WaitProfile {
  samples: number;
  /** wait event -> share of active-backend samples, largest first. */
  waits: Record<string, number>;
  /** Share of samples that saw statehub.outbox_pump_state.busy = true. */
  busyShare: number;
}

export async function sampleWaits<T>(url: string, database: string, applicationName: string, fn: () => Promise<T>, everyMs = 20): Promise<{ result: T; profile: WaitProfile }> {
  const client = new pg.Client({ connectionString: url, application_name: 'statehub-bench-sampler' });
  await client.connect();
  const counts = new Map<string, number>();
  let samples = 0;
  let busy = 0;
  let active = 0;
  let stop = false;
  const loop = (async () => {
    while (!stop) {
      const { rows } = await client.query<{ d: boolean; waits: Record<string, number> | null }>(
        `SELECT (SELECT busy FROM statehub.outbox_pump_state) AS d,
                (SELECT json_object_agg(w, n) FROM (
                   SELECT coalesce(a.wait_event_type || ':' || a.wait_event, 'CPU') AS w, count(*)::int AS n
                     FROM pg_stat_activity a
                    WHERE a.datname = $1 AND a.application_name = $2 AND a.state = 'active'
                    GROUP BY 1) x) AS waits`,
        [database, applicationName],
      );
      samples++;
      if (rows[0]?.d) busy++;
      for (const [w, n] of Object.entries(rows[0]?.waits ?? {})) {
        counts.set(w, (counts.get(w) ?? 0) + n);
        active += n;
      }
      await new Promise((r) => setTimeout(r, everyMs));
    }
  })();
  try {
    const result = await fn();
    return {
      result,
      profile: {
        samples,
        waits: Object.fromEntries(
          [...counts.entries()].sort((a, b) => b[1] - a[1]).slice(0, 8).map(([k, v]) => [k, Math.round((v / Math.max(active, 1)) * 1000) / 1000]),
        ),
        busyShare: samples ? Math.round((busy / samples) * 1000) / 1000 : 0,
      },
    };
  } finally {
    stop = true;
    await loop.catch(() => undefined);
    await client.end();
  }
}

export function formatWaits(p: WaitProfile): string {
  return Object.entries(p.waits)
    .slice(0, 4)
    .map(([k, v]) => `${k} ${Math.round(v * 100)}%`)
    .join(', ');
}
