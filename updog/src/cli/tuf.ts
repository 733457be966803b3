import { Command } from 'commander';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setUsageExitCode } from '../common/cli-main.js';
import { writeFileAtomic } from '../common/durable-file.js';
import { ExitCode, UserError } from '../common/errors.js';
import { DIR_MODE } from '../common/file-modes.js';
import { createLogger, type Logger, type LogLevel } from '../common/log.js';
import { createDispatcher } from '../tuf/dispatcher.js';
import { createUpdater, type TufClient } from '../tuf/updater.js';

interface TufOptions {
  metadataDir: string;
  metadataUrl?: string;
  targetName?: string[];
  targetBaseUrl?: string;
  targetDir?: string;
  logLevel?: LogLevel;
}

/**
 * `updog tuf ...`: a plain TUF client following the tuf-conformance client-under-test CLI, for
 * checking a repository by hand with the same client code updog uses. Exit 0 on success, 1 on
 * any failure, usage errors included. Metadata in the directory keeps non-versioned names (root.json, timestamp.json, ...).
 */
export function tufCommand(): Command {
  const tuf = new Command('tuf')
    .description('TUF client for checking a repository by hand (tuf-conformance client CLI protocol)')
    .requiredOption('--metadata-dir <dir>', 'trusted metadata directory')
    .option('--metadata-url <url>', 'repository metadata base URL')
    .option('--target-name <path>', 'target to download (repeatable, processed in order)', (v: string, acc: string[] | undefined) => [...(acc ?? []), v])
    .option('--target-base-url <url>', 'repository targets base URL')
    .option('--target-dir <dir>', 'where downloaded targets are stored');

  tuf
    .command('init')
    .description('trust the given root.json (no network access)')
    .argument('<trusted-root>', 'initial root.json')
    .action((trustedRoot: string, _o: unknown, cmd: Command) => {
      const { metadataDir } = cmd.optsWithGlobals<TufOptions>();
      try {
        writeFileAtomic(join(metadataDir, 'root.json'), readFileSync(trustedRoot));
      } catch (err) {
        throw new UserError(`cannot initialize ${metadataDir} from ${trustedRoot}: ${(err as Error).message}`, { cause: err });
      }
    });

  tuf
    .command('refresh')
    .description('update the trusted top-level metadata from the repository')
    .action(async (_o: unknown, cmd: Command) => {
      const opts = cmd.optsWithGlobals<TufOptions>();
      await withUpdater(opts, async (tuf) => {
        await tuf.step(`refreshing from ${opts.metadataUrl}`, (u) => u.refresh());
      });
    });

  tuf
    .command('download')
    .description('refresh, then download and verify each --target-name into --target-dir (skipping verified cached copies)')
    .action(async (_o: unknown, cmd: Command) => {
      const opts = cmd.optsWithGlobals<TufOptions>();
      const targetDir = required(opts.targetDir, '--target-dir');
      required(opts.targetBaseUrl, '--target-base-url');
      const names = opts.targetName ?? [];
      if (names.length === 0) throw new UserError('download needs at least one --target-name');
      mkdirSync(targetDir, { recursive: true, mode: DIR_MODE });
      await withUpdater(opts, async (tuf, log) => {
        for (const name of names) {
          const info = await tuf.step(`looking up ${name}`, (u) => u.getTargetInfo(name));
          if (info === undefined) throw new UserError(`target ${name} is not in the repository's signed targets`);
          if (await tuf.updater.findCachedTarget(info)) {
            log.info({ target: name }, 'already downloaded and verified');
            continue;
          }
          const file = await tuf.step(`downloading ${name}`, (u) => u.downloadTarget(info));
          log.info({ target: name, file }, 'downloaded and verified');
        }
      });
    });
  return setUsageExitCode(tuf, ExitCode.Failure);
}

function required(value: string | undefined, flag: string): string {
  if (value === undefined) throw new UserError(`${flag} is required for this command`);
  return value;
}

/** One updater (tuf-js refreshes once per instance) on a proxy-aware dispatcher, closed afterwards. */
async function withUpdater(
  opts: TufOptions,
  use: (tuf: TufClient, log: Logger) => Promise<void>,
): Promise<void> {
  const dispatcher = createDispatcher();
  const logger = createLogger('updog', opts.logLevel ?? 'info');
  try {
    const tuf = createUpdater({
      metadataDir: opts.metadataDir,
      metadataUrl: required(opts.metadataUrl, '--metadata-url'),
      dispatcher,
      logger,
      ...(opts.targetBaseUrl === undefined ? {} : { targetBaseUrl: opts.targetBaseUrl }),
      ...(opts.targetDir === undefined ? {} : { targetDir: opts.targetDir }),
    });
    await use(tuf, logger);
  } finally {
    await dispatcher.destroy(); // nothing is in flight; never wait on a connection
  }
}
