// The consistency engine's use cases (src/sync, docs/workplans.md): reconcile a repo's
// workplan files with the hub, or report what that would do.
import { z } from 'zod';
import { syncRepo } from '../sync/engine.ts';
import { syncReport } from '../sync/report.ts';
import { slug } from './fields.ts';
import { operation } from './operation.ts';

export const workplans = {
  sync: operation({
    summary: "Reconcile a repo's workplan files with the hub: create and update its workstreams and tasks, report what cannot be reconciled",
    writes: true,
    input: z.strictObject({
      slug,
      dry_run: z.boolean().default(false).meta({ description: 'compute the same report and change nothing' }),
      prune: z.boolean().default(false).meta({ description: 'cancel open workstreams and tasks that came from a file and are gone from it' }),
    }),
    output: syncReport,
    run: ({ slug, dry_run, prune }, db, settings) => syncRepo(db, settings, slug, { dryRun: dry_run, prune }),
  }),
  drift: operation({
    summary: "What a sync of a repo's workplan files would change and report (a dry run without prune); changes nothing",
    writes: false,
    input: z.strictObject({ slug }),
    output: syncReport,
    run: ({ slug }, db, settings) => syncRepo(db, settings, slug, { dryRun: true, prune: false }),
  }),
};
