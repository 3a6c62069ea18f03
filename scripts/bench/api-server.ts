// Child process for scripts/bench/api.ts: serves either the real app (makeApp, with the request
// log at info as `statehub api` runs by default, written to /dev/null) or a bare Express 5 + pg
// handler doing the same queries. Reports its port over IPC; exits on SIGTERM.
//   node --import tsx scripts/bench/api-server.ts app|bare   (DATABASE_URL in the environment)
import { createServer, type RequestListener } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import pg from 'pg';
import { makeApp } from '../../src/api/app.ts';
import { defaultAccess } from '../../src/api/access.ts';
import { createDb } from '../../src/db.ts';
import { createLogger } from '../../src/logger.ts';

const mode = process.argv[2];
const url = process.env.DATABASE_URL!;
const POOL_MAX = 10; // PG_POOL_MAX's default

// The app's own SELECT (src/operations/workstreams.ts).
const SELECT = `SELECT t.*, tp.slug AS topic_slug, r.slug AS repo_slug
                  FROM statehub.workstreams t
                  JOIN statehub.topics tp ON tp.id = t.topic_id
                  LEFT JOIN statehub.repos r ON r.id = t.repo_id`;

function bare(): express.Express {
  const pool = new pg.Pool({ connectionString: url, max: POOL_MAX });
  pool.on('error', () => undefined);
  const app = express();
  app.use(express.json());
  app.get('/workstreams/:id', async (req, res) => {
    const { rows } = await pool.query(`${SELECT} WHERE t.id = $1`, [Number(req.params.id)]);
    if (!rows[0]) res.status(404).end();
    else res.json(rows[0]);
  });
  // One statement: the update and the joined row in a single round trip.
  app.patch('/workstreams/:id', async (req, res) => {
    const { rows } = await pool.query(
      `WITH t AS (UPDATE statehub.workstreams SET title = $2 WHERE id = $1 RETURNING *)
       SELECT t.*, tp.slug AS topic_slug, r.slug AS repo_slug
         FROM t JOIN statehub.topics tp ON tp.id = t.topic_id LEFT JOIN statehub.repos r ON r.id = t.repo_id`,
      [Number(req.params.id), (req.body as { title: string }).title],
    );
    if (!rows[0]) res.status(404).end();
    else res.json(rows[0]);
  });
  // What the app sends for a PATCH (BEGIN, UPDATE, SELECT, COMMIT), without the app around it.
  app.patch('/tx/workstreams/:id', async (req, res) => {
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      await client.query('UPDATE statehub.workstreams SET "title" = $2 WHERE "id" = $1', [Number(req.params.id), (req.body as { title: string }).title]);
      const { rows } = await client.query(`${SELECT} WHERE t.id = $1`, [Number(req.params.id)]);
      await client.query('COMMIT');
      if (!rows[0]) res.status(404).end();
      else res.json(rows[0]);
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  });
  return app;
}

function real(): RequestListener {
  const log = createLogger(process.env.BENCH_LOG_LEVEL ?? 'info', { service: 'statehub-api' });
  return makeApp({ db: createDb({ connectionString: url, max: POOL_MAX }, log), log, access: defaultAccess('127.0.0.1') });
}

const server = createServer(mode === 'bare' ? bare() : real()).listen(0, '127.0.0.1', () => {
  process.send!({ port: (server.address() as AddressInfo).port });
});
process.on('SIGTERM', () => process.exit(0));
