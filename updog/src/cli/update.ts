/**
 * `updog update`, `update-image`, `update-apply`, `update-revert`: the commands that change the
 * disk. All of them hold the update lock; `update-apply` and `update-revert` only touch the
 * partition flags and need no network or configuration.
 */
import { Command, Option } from 'commander';
import { NothingToDo, UserError } from '../common/errors.js';
import { createLogger, type Logger, type LogLevel } from '../common/log.js';
import { progressReporter } from '../install/progress.js';
import { isVersion } from '../manifest/semver.js';
import { addDiskOptions, type DiskOptions } from '../signpost/disk-options.js';
import { DEFAULT_LOCK_FILE, withUpdateLock } from '../update/lock.js';
import { DEFAULT_REBOOT_COMMAND, parseRebootCommand, rebootHost } from '../update/reboot.js';
import { applyUpdate, prepareUpdate, revertUpdate, type PreparedUpdate } from '../update/update.js';
import { loadHostContext, type HostOptions } from '../config/host-context.js';
import { cancelOnSignals } from './cancel-on-signal.js';
import { addHostOptions, addMaxRateOption, addMigrationStagingOptions } from './host-options.js';

interface LockOptions {
  lockFile: string;
  logLevel?: LogLevel;
}
interface RebootOptions {
  reboot?: boolean;
  rebootCommand: string;
}
interface ImageOptions {
  image?: string;
  ignoreWaves?: boolean;
  json?: boolean;
}

function addLockOption(cmd: Command): Command {
  return cmd.addOption(new Option('--lock-file <path>', 'lock file held while the disk is changed').env('UPDOG_LOCK_FILE').default(DEFAULT_LOCK_FILE));
}

function addRebootOptions(cmd: Command): Command {
  return cmd
    .option('--reboot', 'reboot into the update once it is applied')
    .addOption(
      new Option('--reboot-command <command>', 'command run by --reboot (split on spaces, no shell)')
        .env('UPDOG_REBOOT_COMMAND')
        .default(DEFAULT_REBOOT_COMMAND.join(' ')),
    );
}

function addImageOptions(cmd: Command): Command {
  return addMaxRateOption(addMigrationStagingOptions(cmd))
    .option('--image <version>', 'install exactly this version (may be a downgrade)')
    .option('-n, --ignore-waves', 'ignore the rollout waves')
    .option('--json', 'print what was installed (images, migrations) as JSON');
}

/** The four commands, for `program.addCommand`. */
export function updateCommands(): Command[] {
  const update = new Command('update')
    .description('download, verify and write the chosen update to the inactive partition set, then boot it next')
    .action(async (_o: unknown, command: Command) => {
      const opts = command.optsWithGlobals<ImageOptions & RebootOptions & LockOptions & HostOptions & DiskOptions>();
      const rebootCommand = opts.reboot === true ? parseRebootCommand(opts.rebootCommand) : undefined;
      await withUpdateLock(opts.lockFile, async () => {
        const prepared = await cancelOnSignals((signal) => stageUpdate(opts, signal));
        await applyUpdate(opts, logger(opts));
        printPrepared(prepared, opts.json === true, { applied: true, rebooting: rebootCommand !== undefined });
        if (rebootCommand !== undefined) await rebootHost(rebootCommand);
      });
    });
  const updateImage = new Command('update-image')
    .description('download, verify and write the chosen update to the inactive partition set (not applied)')
    .action(async (_o: unknown, command: Command) => {
      const opts = command.optsWithGlobals<ImageOptions & LockOptions & HostOptions & DiskOptions>();
      await withUpdateLock(opts.lockFile, async () => {
        printPrepared(await cancelOnSignals((signal) => stageUpdate(opts, signal)), opts.json === true, { applied: false, rebooting: false });
      });
    });
  const updateApply = new Command('update-apply')
    .description('boot the staged update next (works offline)')
    .action(async (_o: unknown, command: Command) => {
      const opts = command.optsWithGlobals<RebootOptions & LockOptions & DiskOptions>();
      const rebootCommand = opts.reboot === true ? parseRebootCommand(opts.rebootCommand) : undefined;
      await withUpdateLock(opts.lockFile, async () => {
        await applyUpdate(opts, logger(opts));
        process.stdout.write('update applied: the staged set boots next\n');
        if (rebootCommand !== undefined) await rebootHost(rebootCommand);
      });
    });
  const updateRevert = new Command('update-revert')
    .description('undo update-apply: keep booting the running set (works offline)')
    .action(async (_o: unknown, command: Command) => {
      const opts = command.optsWithGlobals<LockOptions & DiskOptions>();
      await withUpdateLock(opts.lockFile, async () => {
        await revertUpdate(opts, logger(opts));
        process.stdout.write('update reverted: the running set boots next\n');
      });
    });
  const exitCodes = '\nExit codes: 0 done, 1 failure, 2 nothing to do, 3 another updog holds the lock';
  const cancelled = `${exitCodes}, 5 cancelled (SIGINT/SIGTERM: nothing applied, the inactive set left unbootable).`;
  return [
    addRebootOptions(addImageOptions(addHostOptions(addDiskOptions(addLockOption(update))))).addHelpText('after', cancelled),
    addImageOptions(addHostOptions(addDiskOptions(addLockOption(updateImage)))).addHelpText('after', cancelled),
    addRebootOptions(addDiskOptions(addLockOption(updateApply))).addHelpText('after', `${exitCodes}.`),
    addDiskOptions(addLockOption(updateRevert)).addHelpText('after', `${exitCodes}.`),
  ];
}

function logger(opts: LockOptions): Logger {
  return createLogger('updog', opts.logLevel ?? 'info');
}

async function stageUpdate(opts: ImageOptions & HostOptions & DiskOptions, signal: AbortSignal): Promise<PreparedUpdate> {
  const version = opts.image?.replace(/^v/, '');
  if (version !== undefined && !isVersion(version)) throw new UserError(`--image ${opts.image}: not a version like 1.26.1`);
  const ctx = await loadHostContext(opts);
  const progress = progressReporter({ stream: process.stderr, logger: ctx.logger });
  try {
    const prepared = await prepareUpdate({
      ctx,
      disk: opts,
      ...(version === undefined ? {} : { version }),
      ignoreWaves: opts.ignoreWaves === true,
      onProgress: progress.listener,
      signal,
    });
    if (prepared === undefined) throw new NothingToDo(`no update available for ${ctx.os.variantId} ${ctx.os.arch} ${ctx.os.versionId}`);
    return prepared;
  } finally {
    progress.end();
  }
}

function printPrepared(prepared: PreparedUpdate, json: boolean, state: { applied: boolean; rebooting: boolean }): void {
  if (json) {
    process.stdout.write(`${JSON.stringify({ ...prepared, ...state }, null, 2)}\n`);
    return;
  }
  const next = state.applied ? (state.rebooting ? '; rebooting' : '; it boots next') : '; run update-apply to boot it';
  process.stdout.write(`${prepared.variant} ${prepared.version} written to set ${prepared.set}${next}\n`);
}
