import { readdir } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { Command } from 'commander';
import { UserError } from '@updog-ts/updog/common';
import { expiringRoles, verifyTargetFiles } from '../tuf/inspect.js';
import { loadRepository, loadRootFile } from '../tuf/load.js';
import { RepositoryEditor, type PublishResult } from '../tuf/repository.js';
import { parseDuration } from '../time/time.js';
import { addKeyOptions, addPublishOptions, collect, loggerOf, parseAdd, printJson, publishSettings, signersFrom, type PublishFlags } from './options.js';

/** Every regular file under `dir`, as target name (relative, `/`-separated) -> path. */
async function filesUnder(dir: string): Promise<Record<string, string>> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch((err: Error) => {
    throw new UserError(`cannot read targets directory ${dir}: ${err.message}`, { cause: err });
  });
  const out: Record<string, string> = {};
  for (const e of entries) {
    if (!e.isFile()) continue;
    const path = join(e.parentPath, e.name);
    out[relative(dir, path).split(sep).join('/')] = path;
  }
  return out;
}

function report(result: PublishResult): void {
  printJson({ repository: result.dir, versions: result.versions });
}

export function repoCommands(): Command[] {
  const create = addPublishOptions(
    addKeyOptions(
      new Command('create')
        .description('create a repository from a signed root, keys and a directory of targets (built in a temp dir, then renamed)')
        .requiredOption('--root <file>', 'signed root.json (its version becomes N.root.json)')
        .requiredOption('--targets-dir <dir>', 'files to publish; names are paths relative to it')
        .requiredOption('--out <dir>', 'repository directory to create (must not exist or be empty)')
        .option('--link', 'hard-link targets instead of copying'),
    ),
  ).action(async (opts: PublishFlags & { root: string; targetsDir: string; out: string; link?: boolean; key: string[]; keysDir?: string }, cmd: Command) => {
    const now = new Date();
    const editor = RepositoryEditor.create(await loadRootFile(opts.root));
    for (const [name, path] of Object.entries(await filesUnder(opts.targetsDir))) await editor.addTarget(name, path);
    const result = await editor.publish(opts.out, { signers: await signersFrom(opts), ...(await publishSettings(opts, now)), link: opts.link ?? false, now });
    loggerOf(cmd).info({ targets: Object.keys(editor.targets).length }, 'repository created');
    report(result);
  });

  const update = addPublishOptions(
    addKeyOptions(
      new Command('update')
        .description('verify a repository, change targets and/or rotate its root, and re-sign')
        .argument('<repo>', 'repository directory')
        .option('--add <name=path>', 'add or replace a target (repeatable)', collect, [])
        .option('--add-dir <dir>', 'add or replace every file under DIR (names relative to it)')
        .option('--remove <name>', 'remove a target (repeatable)', collect, [])
        .option('--rotate-root <file>', 'new root version N+1, signed by the thresholds of N and N+1')
        .option('--link', 'hard-link targets instead of copying')
        .option('-f, --force', 'accept an expired input repository'),
    ),
  ).action(
    async (
      dir: string,
      opts: PublishFlags & { add: string[]; addDir?: string; remove: string[]; rotateRoot?: string; link?: boolean; force?: boolean; key: string[]; keysDir?: string },
      cmd: Command,
    ) => {
      const now = new Date();
      const editor = RepositoryEditor.edit(await loadRepository(dir, { now, allowExpired: opts.force ?? false }));
      if (opts.rotateRoot) editor.rotateRoot(await loadRootFile(opts.rotateRoot));
      for (const name of opts.remove) editor.removeTarget(name);
      const added = opts.add.map(parseAdd);
      if (opts.addDir) added.push(...Object.entries(await filesUnder(opts.addDir)));
      for (const [name, path] of added) await editor.addTarget(name, path);
      const result = await editor.publish(dir, { signers: await signersFrom(opts), ...(await publishSettings(opts, now)), link: opts.link ?? false, now });
      loggerOf(cmd).info({ added: added.length, removed: opts.remove.length, rotated: Boolean(opts.rotateRoot) }, 'repository updated');
      report(result);
    },
  );

  const refresh = addPublishOptions(
    addKeyOptions(
      new Command('refresh')
        .description('re-sign snapshot and timestamp (and targets with --targets) with new expiries; content unchanged')
        .argument('<repo>', 'repository directory')
        .option('--targets', 're-sign targets metadata too')
        .option('-f, --force', 'accept an expired input repository (the usual reason to refresh)'),
    ),
  ).action(async (dir: string, opts: PublishFlags & { targets?: boolean; force?: boolean; key: string[]; keysDir?: string }) => {
    const now = new Date();
    const editor = RepositoryEditor.edit(await loadRepository(dir, { now, allowExpired: opts.force ?? false }));
    report(await editor.publish(dir, { signers: await signersFrom(opts), ...(await publishSettings(opts, now)), resignTargets: opts.targets ?? false, now }));
  });

  const checkExpirations = new Command('check-expirations')
    .description('list metadata that expires within DURATION (exit 1 if any)')
    .argument('<repo>', 'repository directory')
    .requiredOption('--within <duration>', 'e.g. "7 days"')
    .action(async (dir: string, opts: { within: string }) => {
      const now = new Date();
      const expiring = expiringRoles(await loadRepository(dir, { now, allowExpired: true }), parseDuration(opts.within), now);
      for (const e of expiring) process.stdout.write(`${e.expires}\t${e.role}\tversion ${e.version}\t${e.file}\n`);
      if (expiring.length > 0) throw new UserError(`${expiring.length} role(s) expire within ${opts.within}`);
    });

  const validate = new Command('validate')
    .description('load and verify a repository as a client would (root chain, signatures, versions, hashes, expiry)')
    .argument('<repo>', 'repository directory')
    .option('--targets', 'also verify every target file (length and hashes)')
    .option('--allow-expired', 'do not fail on expired metadata')
    .action(async (dir: string, opts: { targets?: boolean; allowExpired?: boolean }) => {
      const repo = await loadRepository(dir, { allowExpired: opts.allowExpired ?? false });
      if (opts.targets) {
        const problems = await verifyTargetFiles(repo);
        if (problems.length > 0) throw new UserError(`target files do not match their metadata:\n  ${problems.join('\n  ')}`);
      }
      printJson({
        repository: dir,
        versions: {
          root: repo.root.signed.version,
          targets: repo.targets.signed.version,
          snapshot: repo.snapshot.signed.version,
          timestamp: repo.timestamp.signed.version,
        },
        targets: Object.keys(repo.targets.signed.targets).length,
        targetsVerified: opts.targets ?? false,
      });
    });

  return [create, update, refresh, checkExpirations, validate];
}
