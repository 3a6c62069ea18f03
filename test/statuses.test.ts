import { expect } from 'chai';
import { statusEnums } from '../src/operations/statuses.ts';
import { useTestDatabase } from './helpers/database.ts';

describe('status values', () => {
  const t = useTestDatabase();

  it('each status schema of the operations lists exactly its database enum, in order', async () => {
    const { rows } = await t.db.query<{ name: string; labels: string[] }>(
      `SELECT t.typname AS name, array_agg(e.enumlabel ORDER BY e.enumsortorder)::text[] AS labels
         FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid JOIN pg_namespace n ON n.oid = t.typnamespace
        WHERE n.nspname = 'statehub' GROUP BY t.typname`,
    );
    const inDatabase = Object.fromEntries(rows.map((r) => [r.name, r.labels]));
    const inCode = Object.fromEntries(Object.entries(statusEnums).map(([name, schema]) => [name, [...schema.options]]));
    expect(inCode).to.deep.equal(inDatabase);
  });
});
