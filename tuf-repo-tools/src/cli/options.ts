/** Option parsing shared by the tuf-repo commands. */
import { InvalidArgumentError, Option, type Command } from 'commander';
import { createLogger, type Logger, type LogLevel, UserError } from '@updog-ts/updog/common';
import { loadKeyDir } from '../keys/key-dir.js';
import { loadPrivateKeyFile, type Signer } from '../keys/keys.js';
import { checkBlockSize, DEFAULT_BLOCK_SIZE } from '../image/lz4-pack.js';
import { loadExpiryPolicy } from '../tuf/expiry-policy.js';
import type { RoleExpiries, RoleVersions } from '../tuf/repository.js';
import { parseTime } from '../time/time.js';

export function parsePositiveInt(text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer');
  return n;
}

/** `--block-size` of the commands that pack images. */
export function blockSizeOption(description: string): Option {
  const shown = DEFAULT_BLOCK_SIZE % (1024 * 1024) === 0 ? `${DEFAULT_BLOCK_SIZE / 1024 / 1024}MiB` : `${DEFAULT_BLOCK_SIZE / 1024}KiB`;
  return new Option('--block-size <size>', `${description}, 64KiB to 4MiB in 4 KiB steps`).argParser(parseBlockSize).default(DEFAULT_BLOCK_SIZE, shown);
}

/** `--block-size`: bytes, or a number of KiB/MiB (`1MiB`); checked against what LZ4 frames allow. */
function parseBlockSize(text: string): number {
  const m = /^(\d+)(KiB|MiB)?$/.exec(text);
  if (!m) throw new InvalidArgumentError('expected bytes, or a number with KiB or MiB (e.g. 1MiB)');
  const size = Number(m[1]) * (m[2] === 'MiB' ? 1024 * 1024 : m[2] === 'KiB' ? 1024 : 1);
  try {
    checkBlockSize(size);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
  return size;
}

export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** The logger of the root program, at its `--log-level`. */
export function loggerOf(cmd: Command): Logger {
  let root = cmd;
  while (root.parent) root = root.parent;
  return createLogger('tuf-repo', (root.opts() as { logLevel: LogLevel }).logLevel);
}

export function addKeyOptions(cmd: Command): Command {
  return cmd
    .option('-k, --key <file>', 'PEM private key file (repeatable)', collect, [])
    .option('--keys-dir <dir>', 'directory of PEM private keys (*.pem)');
}

export async function signersFrom(opts: { key: string[]; keysDir?: string }): Promise<Signer[]> {
  const signers: Signer[] = [];
  for (const file of opts.key) signers.push(await loadPrivateKeyFile(file));
  if (opts.keysDir) signers.push(...(await loadKeyDir(opts.keysDir)));
  if (signers.length === 0) throw new UserError('no signing keys: give --key FILE or --keys-dir DIR');
  return signers;
}

/** `--targets-expires` etc., `--expiry-policy`, `--{role}-version`. */
export function addPublishOptions(cmd: Command): Command {
  for (const role of ['targets', 'snapshot', 'timestamp'] as const) {
    cmd.addOption(new Option(`--${role}-expires <time>`, `${role} expiry: RFC 3339 or relative ("in 7 days")`));
    cmd.addOption(new Option(`--${role}-version <n>`, `explicit ${role} version (default: previous + 1)`).argParser(parsePositiveInt));
  }
  return cmd.option('--expiry-policy <file>', 'TOML file of role lifetimes (targets/snapshot/timestamp = "in N days")');
}

export interface PublishFlags {
  targetsExpires?: string;
  snapshotExpires?: string;
  timestampExpires?: string;
  targetsVersion?: number;
  snapshotVersion?: number;
  timestampVersion?: number;
  expiryPolicy?: string;
}

export async function publishSettings(flags: PublishFlags, now: Date): Promise<{ expires: RoleExpiries; versions: RoleVersions }> {
  const expires: RoleExpiries = flags.expiryPolicy ? await loadExpiryPolicy(flags.expiryPolicy, now) : {};
  if (flags.targetsExpires) expires.targets = parseTime(flags.targetsExpires, now);
  if (flags.snapshotExpires) expires.snapshot = parseTime(flags.snapshotExpires, now);
  if (flags.timestampExpires) expires.timestamp = parseTime(flags.timestampExpires, now);
  const versions: RoleVersions = {};
  if (flags.targetsVersion !== undefined) versions.targets = flags.targetsVersion;
  if (flags.snapshotVersion !== undefined) versions.snapshot = flags.snapshotVersion;
  if (flags.timestampVersion !== undefined) versions.timestamp = flags.timestampVersion;
  return { expires, versions };
}

/** `NAME=PATH` of `--add`. */
export function parseAdd(spec: string): [string, string] {
  const eq = spec.indexOf('=');
  if (eq <= 0 || eq === spec.length - 1) throw new UserError(`--add expects NAME=PATH (got "${spec}")`);
  return [spec.slice(0, eq), spec.slice(eq + 1)];
}

/** Prints a result on stdout as one JSON document. */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}
