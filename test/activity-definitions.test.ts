// The ActivityDefinition drafts in docs/activity-definitions/ are handed to activity-core as
// they are, so they are checked like code: each file is valid YAML with the parts the format
// requires (trigger, rule.when, instruction), every event trigger names a subject the hub
// publishes, every attribute a rule or template reads exists on that subject, and every
// `statehub` command an instruction runs is one the CLI really has.
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { parseDocument } from 'yaml';
import { catalog, isSubject, SUBJECTS } from '../src/events/catalog.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dir = path.join(root, 'docs', 'activity-definitions');

type Json = Record<string, unknown>;

interface Definition {
  file: string;
  doc: Json;
}

function loadDefinitions(): Definition[] {
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.yaml') || f.endsWith('.yml'))
    .sort();
  return files.map((file) => {
    const parsed = parseDocument(readFileSync(path.join(dir, file), 'utf8'), { uniqueKeys: true, prettyErrors: true });
    if (parsed.errors.length > 0) throw new Error(`${file}: ${parsed.errors.map((e) => e.message).join('; ')}`);
    const doc = parsed.toJS() as unknown;
    if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) throw new Error(`${file}: top level is not a mapping`);
    return { file, doc: doc as Json };
  });
}

function mapping(value: unknown, where: string): Json {
  expect(value, `${where} must be a mapping`).to.be.an('object').and.not.be.an('array');
  return value as Json;
}

function text(value: unknown, where: string): string {
  expect(value, `${where} must be a non-empty string`).to.be.a('string');
  expect((value as string).trim(), `${where} must be a non-empty string`).to.not.equal('');
  return value as string;
}

// Standard five-field cron: minute hour day-of-month month day-of-week.
const cronRanges: Array<[string, number, number]> = [
  ['minute', 0, 59],
  ['hour', 0, 23],
  ['day of month', 1, 31],
  ['month', 1, 12],
  ['day of week', 0, 7],
];

/** Problems with a five-field cron expression; empty when it is valid. */
function cronProblems(expr: string): string[] {
  const fields = expr.trim().split(/\s+/);
  if (fields.length !== 5) return [`expected 5 fields, got ${fields.length}`];
  const problems: string[] = [];
  fields.forEach((field, i) => {
    const [name, min, max] = cronRanges[i]!;
    for (const part of field.split(',')) {
      const m = /^(\*|(\d+)(?:-(\d+))?)(?:\/(\d+))?$/.exec(part);
      if (!m) {
        problems.push(`${name}: "${part}" is not *, n, n-m or a step`);
        continue;
      }
      const numbers = [m[2], m[3]].filter((n): n is string => n !== undefined).map(Number);
      for (const n of numbers) if (n < min || n > max) problems.push(`${name}: ${n} outside ${min}-${max}`);
      if (numbers.length === 2 && numbers[0]! > numbers[1]!) problems.push(`${name}: range ${part} runs backwards`);
      if (m[4] !== undefined && Number(m[4]) < 1) problems.push(`${name}: step must be at least 1`);
    }
  });
  return problems;
}

/** Every `event.attributes.<name>` read anywhere in the definition's strings. */
function attributesRead(value: unknown, found = new Set<string>()): Set<string> {
  if (typeof value === 'string') {
    for (const m of value.matchAll(/\bevent\.attributes\.([A-Za-z_][A-Za-z0-9_]*)/g)) found.add(m[1]!);
    for (const m of value.matchAll(/\bevent\.attributes\[['"]([^'"]+)['"]\]/g)) found.add(m[1]!);
  } else if (Array.isArray(value)) {
    for (const v of value) attributesRead(v, found);
  } else if (value !== null && typeof value === 'object') {
    for (const v of Object.values(value)) attributesRead(v, found);
  }
  return found;
}

async function cliCommands(): Promise<Set<string>> {
  const { stdout } = await promisify(execFile)(process.execPath, [path.join(root, 'bin', 'statehub.js'), 'help'], { cwd: root });
  const section = stdout.split(/^commands:$/m)[1] ?? '';
  return new Set([...section.matchAll(/^ {2}(\S+)/gm)].map((m) => m[1]!));
}

describe('ActivityDefinition drafts in docs/activity-definitions/', function () {
  const definitions = loadDefinitions();
  const byId = new Map(definitions.map((d) => [d.doc.id, d]));

  it('the folder holds the three drafts that docs/cron-migration.md describes', function () {
    expect([...byId.keys()]).to.include.members([
      'the-custodian.state-hub-consistency-sweep',
      'the-custodian.state-hub-stale-task-cleanup',
      'the-custodian.state-hub-workstream-completed-review',
    ]);
    expect(byId.size, 'ids must be unique').to.equal(definitions.length);
  });

  for (const { file, doc } of definitions) {
    describe(file, function () {
      it('has an id of the form <owner>.<name> whose name is the file name', function () {
        const id = text(doc.id, 'id');
        expect(id).to.match(/^[a-z0-9][a-z0-9-]*(\.[a-z0-9][a-z0-9-]*)+$/);
        expect(id.endsWith(`.${path.basename(file).replace(/\.ya?ml$/, '')}`), `id ${id} must end with the file name`).to.equal(true);
        text(doc.description, 'description');
      });

      it('has a cron trigger with a valid five-field schedule, or an event trigger on a catalog subject', function () {
        const trigger = mapping(doc.trigger, 'trigger');
        expect(trigger.type, 'trigger.type').to.be.oneOf(['cron', 'event']);
        if (trigger.type === 'cron') {
          const schedule = text(trigger.schedule, 'trigger.schedule');
          expect(cronProblems(schedule), `trigger.schedule "${schedule}"`).to.deep.equal([]);
        } else {
          const subject = text(trigger.subject, 'trigger.subject');
          expect(SUBJECTS, `trigger.subject "${subject}" is not published by the hub`).to.include(subject);
        }
      });

      it('has a rule with a when expression', function () {
        text(mapping(doc.rule, 'rule').when, 'rule.when');
      });

      it('has a shell or workflow instruction with what to run', function () {
        const instruction = mapping(doc.instruction, 'instruction');
        expect(instruction.type, 'instruction.type').to.be.oneOf(['shell', 'workflow']);
        if (instruction.type === 'shell') text(instruction.command, 'instruction.command');
        else text(instruction.workflow, 'instruction.workflow');
      });

      it('reads only event attributes that its trigger subject carries', function () {
        const trigger = mapping(doc.trigger, 'trigger');
        const read = attributesRead({ rule: doc.rule, instruction: doc.instruction });
        if (trigger.type !== 'event') {
          expect([...read], 'a cron-triggered definition has no event to read').to.deep.equal([]);
          return;
        }
        const subject = String(trigger.subject);
        expect(isSubject(subject)).to.equal(true);
        if (!isSubject(subject)) return;
        const known = Object.keys(catalog[subject].shape);
        for (const name of read) expect(known, `event.attributes.${name} is not an attribute of ${subject}`).to.include(name);
      });
    });
  }

  it('every statehub command a shell instruction runs exists in the CLI', async function () {
    this.timeout(30_000);
    const commands = await cliCommands();
    expect(commands, 'could not read the command list from `statehub help`').to.include('migrate');
    for (const { file, doc } of definitions) {
      const instruction = doc.instruction as Json | undefined;
      if (instruction?.type !== 'shell') continue;
      const m = /^\s*statehub\s+(\S+)/.exec(String(instruction.command));
      if (m) expect(commands, `${file}: statehub ${m[1]}`).to.include(m[1]);
    }
  });

  it('the consistency sweep runs statehub sync --all every 15 minutes', function () {
    const sweep = byId.get('the-custodian.state-hub-consistency-sweep')!.doc;
    expect(sweep.trigger).to.include({ type: 'cron', schedule: '*/15 * * * *' });
    expect(sweep.instruction).to.include({ type: 'shell', command: 'statehub sync --all' });
  });

  it('the stale-task cleanup runs statehub cleanup-stale-tasks at 03:00', function () {
    const cleanup = byId.get('the-custodian.state-hub-stale-task-cleanup')!.doc;
    expect(cleanup.trigger).to.include({ type: 'cron', schedule: '0 3 * * *' });
    expect(cleanup.instruction).to.include({ type: 'shell', command: 'statehub cleanup-stale-tasks' });
  });

  it('the event example reacts to org.statehub.workstream.completed', function () {
    const review = byId.get('the-custodian.state-hub-workstream-completed-review')!.doc;
    expect(review.trigger).to.deep.equal({ type: 'event', subject: 'org.statehub.workstream.completed' });
  });

  it('the cron checker refuses malformed schedules (so the checks above can fail)', function () {
    expect(cronProblems('*/15 * * * *')).to.deep.equal([]);
    expect(cronProblems('0 3 * * 1-5')).to.deep.equal([]);
    expect(cronProblems('0 3 * *')).to.not.deep.equal([]);
    expect(cronProblems('60 3 * * *')).to.not.deep.equal([]);
    expect(cronProblems('0 24 * * *')).to.not.deep.equal([]);
    expect(cronProblems('*/0 * * * *')).to.not.deep.equal([]);
    expect(cronProblems('@daily')).to.not.deep.equal([]);
  });
});
