#!/usr/bin/env node
import fs from 'node:fs';
import { Command, InvalidArgumentError, Option } from 'commander';
import { logLevelOption, runCliMain } from '../common/cli-main.js';
import { ExitCode, UserError } from '../common/errors.js';
import { FILE_MODE } from '../common/file-modes.js';
import { createLogger, type LogLevel } from '../common/log.js';
import { simulateBoot, type BootResult } from '../boot/gptprio.js';
import { createBottlerocketDiskImage } from '../gpt/bottlerocket-layout.js';
import { addDiskOptions, resolveDiskOptions, type DiskOptions } from '../signpost/disk-options.js';
import { Signpost, type SetStatus, type SignpostStatus } from '../signpost/signpost.js';

type GlobalOptions = DiskOptions & { logLevel: LogLevel };

const program = addDiskOptions(
  new Command('signpost').description('Inspect and change the A/B partition flags (GPT gptprio bits) of a Bottlerocket-style disk.'),
)
  .addOption(logLevelOption())
  // Subcommands copy this setting when created; runCli sets it too late for them, and without it a
  // subcommand's usage error would exit 1 instead of 64.
  .exitOverride()
  .addHelpText(
    'after',
    `
Exit codes: 0 success, 1 failure or refused transition, 2 "no" (has-boot-ever-succeeded), 64 usage.`,
  );

function globals(): GlobalOptions {
  return program.opts<GlobalOptions>();
}

async function openSignpost(): Promise<Signpost> {
  const opts = globals();
  return Signpost.open({ ...resolveDiskOptions(opts), logger: createLogger('signpost', opts.logLevel) });
}

function formatSet(name: string, s: SetStatus, active: boolean): string {
  const role = active ? 'active' : 'inactive';
  return `set ${name} (${role}): priority=${s.priority} tries=${s.triesLeft} successful=${s.successful ? 1 : 0} will-boot=${s.willBoot ? 'yes' : 'no'} partitions boot=${s.partitions.boot} root=${s.partitions.root} hash=${s.partitions.hash}`;
}

function printStatus(status: SignpostStatus, json: boolean): void {
  if (json) {
    process.stdout.write(`${JSON.stringify(status, null, 2)}\n`);
    return;
  }
  process.stdout.write(
    [
      `disk: ${status.disk}`,
      formatSet('A', status.A, status.activeSet === 'A'),
      formatSet('B', status.B, status.activeSet === 'B'),
      `boot ever succeeded: ${status.bootEverSucceeded ? 'yes' : 'no'}`,
      `next boot: ${status.nextBoot ?? 'none (no bootable set!)'}`,
    ].join('\n') + '\n',
  );
}

program
  .command('status')
  .description('show both sets\' flags and which set boots next')
  .option('--json', 'machine-readable output')
  .action(async (opts: { json?: boolean }) => printStatus(await (await openSignpost()).status(), opts.json === true));

const transitions = [
  ['clear-inactive', 'inactive set: priority 0, tries 0, not successful', (s: Signpost) => s.clearInactive()],
  ['mark-inactive-valid', 'inactive set: tries 1 (its images are written and verified)', (s: Signpost) => s.markInactiveValid()],
  ['upgrade-to-inactive', 'boot the inactive set next, once (inactive priority 2, active priority 1)', (s: Signpost) => s.upgradeToInactive()],
  ['cancel-upgrade', 'undo upgrade-to-inactive (inactive priority 0, active priority 2)', (s: Signpost) => s.cancelUpgrade()],
  ['rollback-to-inactive', 'boot the previous set next (requires it to be bootable)', (s: Signpost) => s.rollbackToInactive()],
  ['mark-successful-boot', 'the running set booted fine: keep booting it', (s: Signpost) => s.markSuccessfulBoot()],
] as const;

for (const [name, description, run] of transitions) {
  program
    .command(name)
    .description(description)
    .action(async () => {
      await run(await openSignpost());
    });
}

program
  .command('has-boot-ever-succeeded')
  .description('print true (exit 0) if any boot was ever marked successful, else false (exit 2)')
  .action(async () => {
    const yes = await (await openSignpost()).hasBootEverSucceeded();
    process.stdout.write(`${yes}\n`);
    if (!yes) process.exitCode = ExitCode.NothingToDo;
  });

program
  .command('simulate-boot')
  .description('run the bootloader model on --disk: pick a set, decrement its tries, report what booted')
  .option('--record-active-set <file>', 'write the booted set letter (A or B) to this file')
  .option('--os-release <file>', 'set VERSION_ID in this os-release file to the booted version')
  .option('--json', 'machine-readable output')
  .action(async (opts: { recordActiveSet?: string; osRelease?: string; json?: boolean }) => {
    const { disk } = globals();
    if (disk === undefined) throw new UserError('simulate-boot needs --disk (or UPDOG_DISK)', { exitCode: ExitCode.Usage });
    const result = await simulateBoot(disk);
    if (opts.recordActiveSet !== undefined) fs.writeFileSync(opts.recordActiveSet, `${result.set}\n`, { mode: FILE_MODE });
    if (opts.osRelease !== undefined) setOsReleaseVersion(opts.osRelease, result);
    process.stdout.write(opts.json ? `${JSON.stringify(result)}\n` : `booted set ${result.set} (partition ${result.bootPartitionNumber}, tries ${result.triesBefore} -> ${result.triesAfter})${result.version ? `, version ${result.version}${result.bad ? ' (bad image)' : ''}` : ''}\n`);
  });

function setOsReleaseVersion(file: string, boot: BootResult): void {
  if (boot.version === undefined) throw new UserError(`set ${boot.set} holds no recognisable image, cannot update ${file}`);
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  const index = lines.findIndex((l) => l.startsWith('VERSION_ID='));
  const line = `VERSION_ID=${boot.version}`;
  if (index >= 0) lines[index] = line;
  else lines.splice(lines.length && lines[lines.length - 1] === '' ? lines.length - 1 : lines.length, 0, line);
  fs.writeFileSync(file, lines.join('\n'));
}

function parseSize(text: string): number {
  const match = /^(\d+)([KMG]?)i?B?$/i.exec(text.trim());
  if (!match) throw new InvalidArgumentError('expected a size such as 4096, 64K, 8M or 1G');
  const unit = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 }[match[2]!.toUpperCase() as '' | 'K' | 'M' | 'G'];
  return Number(match[1]) * unit;
}

program
  .command('create-disk-image')
  .description('create a sparse disk image with the Bottlerocket A/B layout, set A bootable (sizes round up to MiB)')
  .argument('<path>', 'image file to create')
  .addOption(new Option('--boot-size <size>', 'BOOT partition size').argParser(parseSize).default(1024 ** 2, '1M'))
  .addOption(new Option('--root-size <size>', 'ROOT partition size').argParser(parseSize).default(8 * 1024 ** 2, '8M'))
  .addOption(new Option('--hash-size <size>', 'HASH partition size').argParser(parseSize).default(1024 ** 2, '1M'))
  .addOption(new Option('--private-size <size>', 'PRIVATE partition size').argParser(parseSize).default(1024 ** 2, '1M'))
  .action(async (path: string, opts: { bootSize: number; rootSize: number; hashSize: number; privateSize: number }) => {
    await createBottlerocketDiskImage(path, opts);
  });

runCliMain(program);
