import { hostname } from 'node:os';
import { loadKubeClient } from '../common/kube-client.js';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { createLogger, type LogLevel, UserError } from '@updog-ts/updog/common';
import { DEFAULT_POLICY_NAME } from '../model/api.js';
import { Controller } from '../controller/controller.js';
import { LeaderElector } from '../controller/leader-election.js';
import { ControllerMetrics, serveMetrics } from '../controller/metrics.js';

interface ControllerFlags {
  kubeconfig?: string;
  namespace: string;
  identity: string;
  policy: string[];
  metricsAddress: string;
  leaseDuration: number;
  renewDeadline: number;
  retryPeriod: number;
  tick: number;
  workers: number;
}

const seconds = (v: string) => {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`expected a positive number of seconds, got "${v}"`);
  return n;
};

const positiveInteger = (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError(`expected a positive whole number, got "${v}"`);
  return n;
};

function parseAddress(address: string): { host: string; port: number } {
  const m = /^(.*):(\d+)$/.exec(address);
  if (!m) throw new UserError(`--metrics-address must be HOST:PORT, got "${address}"`);
  return { host: m[1] || '0.0.0.0', port: Number(m[2]) };
}

async function runController(flags: ControllerFlags, logLevel: LogLevel): Promise<void> {
  const log = createLogger('update-operator-controller', logLevel);
  if (flags.renewDeadline >= flags.leaseDuration) throw new UserError('--renew-deadline must be shorter than --lease-duration');
  const client = loadKubeClient(flags.kubeconfig);
  const metrics = new ControllerMetrics();
  const { host, port } = parseAddress(flags.metricsAddress);
  const { server, port: boundPort } = await serveMetrics(metrics, host, port);
  log.info({ metrics: `${host}:${boundPort}`, identity: flags.identity, policy: flags.policy }, 'controller starting');

  const controller = new Controller(client, { policyNames: flags.policy.length > 0 ? flags.policy : [DEFAULT_POLICY_NAME], tickMs: flags.tick * 1000, workers: flags.workers }, log, metrics);
  const elector = new LeaderElector(
    client,
    {
      namespace: flags.namespace,
      name: 'update-operator-controller',
      identity: flags.identity,
      leaseDurationMs: flags.leaseDuration * 1000,
      renewDeadlineMs: flags.renewDeadline * 1000,
      retryPeriodMs: flags.retryPeriod * 1000,
    },
    log,
  );
  let exitCode = 0;
  const shutdown = async () => {
    await controller.stop();
    await elector.stop();
    server.close();
  };
  process.once('SIGTERM', () => void shutdown());
  process.once('SIGINT', () => void shutdown());
  await elector.run(
    () => {
      metrics.leader.set(1);
      controller.start();
    },
    () => {
      // in-memory work of a deposed leader is stale: stop, and let the Deployment restart us
      metrics.leader.set(0);
      exitCode = 1;
      void shutdown();
    },
  );
  if (exitCode !== 0) throw new UserError('lost the leader lease; exiting so a fresh replica can campaign');
}

export function registerControllerCommand(program: Command): void {
  program
    .command('controller')
    .description('run the rollout controller (leader-elected; one replica acts at a time)')
    .option('--kubeconfig <path>', 'kubeconfig file (default: KUBECONFIG, ~/.kube/config, or in-cluster)')
    .addOption(new Option('--namespace <ns>', 'namespace of the leader Lease').env('POD_NAMESPACE').default('update-operator'))
    .addOption(new Option('--identity <id>', 'this replica\'s name in the Lease').env('POD_NAME').default(`${hostname()}-${process.pid}`, '<hostname>-<pid>'))
    .option('--policy <name>', `UpdatePolicy to follow (default "${DEFAULT_POLICY_NAME}"); repeat it for several node groups, or "*" for every UpdatePolicy`, (v: string, all: string[]) => [...all, v], [] as string[])
    .option('--metrics-address <host:port>', 'Prometheus /metrics and /healthz', '0.0.0.0:8080')
    .option('--lease-duration <seconds>', 'leader Lease duration', seconds, 15)
    .option('--renew-deadline <seconds>', 'leader steps down if it cannot renew for this long', seconds, 10)
    .option('--retry-period <seconds>', 'Lease renew/acquire interval', seconds, 2)
    .option('--tick <seconds>', 'period of the cluster-level step (admission, policy status); nodes are reconciled on change and at their deadlines', seconds, 5)
    .option('--workers <n>', 'nodes reconciled at once', positiveInteger, 8)
    .action(async (flags: ControllerFlags, cmd: Command) => {
      await runController(flags, cmd.optsWithGlobals<{ logLevel: LogLevel }>().logLevel);
    });
}
