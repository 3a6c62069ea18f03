// What `statehub start` runs besides the API and the pump: an embedded PostgreSQL when
// DATABASE_URL is unset, a private nats-server when NATS_URL is unset and one is installed.
// Each stop step is registered before its service starts, so a shutdown mid-start stops it.
import { requireDatabaseUrl, type Config } from '../config.ts';
import { findNatsServer, privateNatsServer } from './private-nats.ts';
import { embeddedPostgres, type EmbeddedDatabase } from './embedded.ts';
import type { Logger } from '../logger.ts';
import type { Step } from '../shutdown.ts';

export type NatsSetup = { kind: 'configured'; url: string } | { kind: 'private'; url: string; storeDir: string } | { kind: 'none' };

export interface BackingServices {
  /** With the password: for this process only. */
  databaseUrl: string;
  embedded?: EmbeddedDatabase;
  nats: NatsSetup;
}

/**
 * The Config the in-process pump runs with: the database and NATS start settled on. The
 * private nats-server takes no credentials; NATS_USER and the rest are for a NATS_URL. With
 * no NATS at all the pump idles and events wait in the outbox.
 */
export function pumpConfig(config: Config, { databaseUrl, nats }: BackingServices): Config {
  const withDatabase = { ...config, DATABASE_URL: databaseUrl };
  if (nats.kind !== 'private') return withDatabase;
  return {
    ...withDatabase,
    NATS_URL: nats.url,
    NATS_USER: undefined,
    NATS_PASSWORD: undefined,
    NATS_TOKEN: undefined,
    NATS_CREDS_FILE: undefined,
    NATS_TLS_CA: undefined,
    NATS_TLS_CERT: undefined,
    NATS_TLS_KEY: undefined,
  };
}

/** Starts what is missing; `steps` (the shutdown's, in order) gets each stop at its front. */
export async function startBackingServices(config: Config, env: NodeJS.ProcessEnv, log: Logger, steps: Step[]): Promise<BackingServices> {
  let embedded: EmbeddedDatabase | undefined;
  if (!config.DATABASE_URL) {
    const pg = embeddedPostgres(config.STATEHUB_DATA_DIR, log);
    steps.unshift({ name: 'embedded postgres', run: () => pg.stop() });
    embedded = await pg.start();
  }
  // A given URL goes through requireDatabaseUrl like every command's: it may name a passfile.
  const databaseUrl = config.DATABASE_URL ? requireDatabaseUrl(config) : embedded!.url;

  if (config.NATS_URL) return { databaseUrl, embedded, nats: { kind: 'configured', url: config.NATS_URL } };
  const binary = await findNatsServer(env.PATH);
  if (!binary) return { databaseUrl, embedded, nats: { kind: 'none' } };
  const nats = privateNatsServer(config.STATEHUB_DATA_DIR, binary, log);
  // Stopped after the pump, which is registered later and so runs earlier.
  steps.unshift({ name: 'private nats-server', run: () => nats.stop() });
  const { url, storeDir } = await nats.start();
  return { databaseUrl, embedded, nats: { kind: 'private', url, storeDir } };
}
