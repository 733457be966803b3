import { Command, Option } from 'commander';
import { NothingToDo, UserError } from '../common/errors.js';
import { formatUtcSeconds } from '../manifest/datetime.js';
import { updateToJson, type Update } from '../manifest/manifest.js';
import { isVersion } from '../manifest/semver.js';
import { hostSelection } from '../selection/host-selection.js';
import { applicableUpdates, selectUpdate } from '../selection/selection.js';
import { readyAt } from '../waves/waves.js';
import { openUpdateRepository } from '../tuf/repository.js';
import { loadHostContext, type HostOptions } from '../config/host-context.js';
import { addHostOptions } from './host-options.js';

interface CheckOptions {
  all?: boolean;
  json?: boolean;
  ignoreWaves?: boolean;
  now?: boolean;
  image?: string;
}

/** `updog check-update` (alias `whats`): which update this host would take, from verified metadata. */
export function checkUpdateCommand(): Command {
  const cmd = new Command('check-update')
    .alias('whats')
    .description('show the update this host would take now (verified against the TUF repository)')
    .option('-a, --all', 'list every applicable update (JSON array with readyAt), not only the one to take')
    .option('--json', 'print the update as JSON (manifest fields plus readyAt)')
    .option('-n, --ignore-waves', 'ignore the rollout waves (also --now)')
    .addOption(new Option('--now').hideHelp())
    .option('--image <version>', 'pick exactly this version')
    .addHelpText('after', '\nExit codes: 0 an update is available, 2 no update available, 1 failure.')
    .action(async (_opts: CheckOptions, command: Command) => {
      const opts = command.optsWithGlobals<CheckOptions & HostOptions>();
      process.stdout.write(await checkUpdate(opts));
    });
  return addHostOptions(cmd);
}

async function checkUpdate(opts: CheckOptions & HostOptions): Promise<string> {
  const image = opts.image?.replace(/^v/, '');
  if (image !== undefined && !isVersion(image)) throw new UserError(`--image ${opts.image}: not a version like 1.26.1`);
  const ctx = await loadHostContext(opts);
  const repo = await openUpdateRepository(ctx);
  await repo.close();
  const host = hostSelection(ctx, { ignoreWaves: opts.ignoreWaves === true || opts.now === true, ...(image === undefined ? {} : { image }) });
  if (opts.all) {
    const all = applicableUpdates(repo.manifest, host);
    const out = `${JSON.stringify(all.map((a) => updateJson(a.update, a.readyAt)), null, 2)}\n`;
    if (all.length === 0) {
      process.stdout.write(out);
      throw new NothingToDo(`no applicable update for ${host.variant} ${host.arch}`);
    }
    return out;
  }
  const update = selectUpdate(repo.manifest, host);
  if (update === undefined) throw new NothingToDo(`no update available for ${host.variant} ${host.arch} ${host.version}`);
  ctx.logger.debug({ version: update.version }, 'update available');
  return opts.json ? `${JSON.stringify(updateJson(update, readyAt(update, host.seed)), null, 2)}\n` : `${update.variant} ${update.version}\n`;
}

function updateJson(update: Update, ready: Date): Record<string, unknown> {
  return { ...updateToJson(update), readyAt: formatUtcSeconds(ready) };
}
