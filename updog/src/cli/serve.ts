/**
 * `updog serve`: the host update API on a Unix socket; `updog api ...`: a client for it (the same
 * calls the update-operator agent makes), printing the status document as JSON on stdout.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { DEFAULT_API_TIMEOUTS, UpdateApiClient } from '../api/client.js';
import { DEFAULT_BOOT_ID_FILE, bootIdFromFile, createUpdateHost } from '../api/host-actions.js';
import { runHealthCheck } from '../api/health-check.js';
import { DEFAULT_API_SOCKET, type StatusResponse } from '../api/protocol.js';
import { startApiServer } from '../api/server.js';
import { createLogger, type LogLevel } from '../common/log.js';
import { addDiskOptions, type DiskOptions } from '../signpost/disk-options.js';
import { DEFAULT_LOCK_FILE } from '../update/lock.js';
import { DEFAULT_REBOOT_COMMAND, parseRebootCommand, rebootHost } from '../update/reboot.js';
import type { HostOptions } from '../config/host-context.js';
import { addHostOptions, addMaxRateOption, addMigrationStagingOptions } from './host-options.js';

export const DEFAULT_STATUS_FILE = '/var/lib/updog/api-status.json';

const socketOption = () =>
  new Option('--socket <path>', "the update API's Unix socket").env('UPDOG_API_SOCKET').default(DEFAULT_API_SOCKET);

interface ServeOptions extends HostOptions, DiskOptions {
  socket: string;
  statusFile: string;
  lockFile: string;
  rebootCommand: string;
  healthCheckCommand?: string;
  healthCheckTimeoutSeconds: number;
  bootIdFile: string;
  migrationsDir: string;
  migratorMetadataDir: string;
  logLevel: LogLevel;
}

export function serveCommand(): Command {
  const cmd = new Command('serve')
    .description('serve the host update API (refresh, prepare, activate, deactivate, reboot, status) on a Unix socket')
    .addOption(socketOption())
    .addOption(new Option('--status-file <path>', 'persisted update status').env('UPDOG_API_STATUS_FILE').default(DEFAULT_STATUS_FILE))
    .addOption(new Option('--lock-file <path>', 'update lock shared with `updog update`').env('UPDOG_LOCK_FILE').default(DEFAULT_LOCK_FILE))
    .addOption(
      new Option('--reboot-command <command>', 'command that reboots the host (split on spaces, no shell)')
        .env('UPDOG_REBOOT_COMMAND')
        .default(DEFAULT_REBOOT_COMMAND.join(' ')),
    )
    .addOption(
      new Option('--health-check-command <command>', 'must exit 0 before a boot is marked successful (split on spaces, no shell)').env(
        'UPDOG_HEALTH_CHECK_COMMAND',
      ),
    )
    .addOption(new Option('--health-check-timeout-seconds <n>', 'deadline of the health check').argParser(positiveInt).default(120))
    .addOption(new Option('--boot-id-file <path>', 'changes on every boot; tells a pending reboot from a done one').env('UPDOG_BOOT_ID_FILE').default(DEFAULT_BOOT_ID_FILE))
    .action(async (_opts: unknown, command: Command) => {
      const opts = command.optsWithGlobals<ServeOptions>();
      const logger = createLogger('updog-serve', opts.logLevel);
      const rebootCommand = parseRebootCommand(opts.rebootCommand);
      const healthCommand = opts.healthCheckCommand?.trim().split(/\s+/);
      const healthCheck = healthCommand && (() => runHealthCheck(healthCommand, opts.healthCheckTimeoutSeconds * 1000));
      const host = createUpdateHost({
        paths: { config: opts.config, osRelease: opts.osRelease, rootJson: opts.rootJson, metadataCache: opts.metadataCache, migrationsDir: opts.migrationsDir, migratorMetadataDir: opts.migratorMetadataDir },
        disk: { disk: opts.disk, activeSet: opts.activeSet, activeSetFile: opts.activeSetFile },
        lockFile: opts.lockFile,
        reboot: () => rebootHost(rebootCommand),
        ...(healthCheck === undefined ? {} : { healthCheck }),
        bootId: () => bootIdFromFile(opts.bootIdFile),
        logger,
        ...(opts.maxRate === undefined ? {} : { maxRate: opts.maxRate }),
      });
      const server = await startApiServer({ socketPath: opts.socket, statusFile: opts.statusFile, host, logger });
      await new Promise<void>((resolve) => {
        for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => resolve());
      });
      logger.info('stopping the update API');
      await server.close();
    });
  return addMaxRateOption(addMigrationStagingOptions(addDiskOptions(addHostOptions(cmd))));
}

export function apiCommand(): Command {
  const api = new Command('api')
    .description('call the host update API of a running `updog serve`; prints the status JSON')
    .addOption(socketOption())
    .option('--timeout <seconds>', `give up waiting for an answer after this long (default: ${DEFAULT_API_TIMEOUTS.queryMs / 1000} for status and cancel, ${DEFAULT_API_TIMEOUTS.commandMs / 1000} for commands)`, positiveInt);
  const client = (command: Command) => {
    const { socket, timeout } = command.optsWithGlobals<{ socket: string; timeout?: number }>();
    return new UpdateApiClient(socket, timeout === undefined ? DEFAULT_API_TIMEOUTS : { queryMs: timeout * 1000, commandMs: timeout * 1000 });
  };
  const action = (call: (c: UpdateApiClient, opts: Record<string, string>) => Promise<StatusResponse>) => async (opts: Record<string, string>, command: Command) => {
    process.stdout.write(`${JSON.stringify(await call(client(command), opts), null, 2)}\n`);
  };
  api.command('status').description('show the update status').action(action((c) => c.status()));
  api.command('refresh').description('re-read the repository and choose an update').action(action((c) => c.refresh()));
  api
    .command('prepare')
    .description('download and write an update to the inactive partition set')
    .requiredOption('--version <version>', 'the version to write')
    .action(action((c, o) => c.prepare(o.version ?? '')));
  api.command('activate').description('boot the prepared update next').action(action((c) => c.activate()));
  api.command('deactivate').description('undo activate').action(action((c) => c.deactivate()));
  api.command('reboot').description('reboot the host').action(action((c) => c.reboot()));
  api.command('mark-successful-boot').description('run the health check, then mark this boot successful').action(action((c) => c.markSuccessfulBoot()));
  api.command('cancel').description('cancel the command in progress (a refresh or prepare stops its downloads and fails); answers once it has stopped').action(action((c) => c.cancel()));
  return api;
}

function positiveInt(text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError(`expected a positive whole number, got "${text}"`);
  return n;
}
