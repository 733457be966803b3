/** `update-operator agent`: the per-node DaemonSet process. */
import { loadKubeClient } from '../common/kube-client.js';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { DEFAULT_API_SOCKET, UpdateApiClient } from '@updog-ts/updog/host-api';
import { createLogger, type LogLevel, UserError } from '@updog-ts/updog/common';
import { NodeAgent } from './agent.js';
import { nodeUpdateStore } from './node-update-store.js';

interface AgentCliOptions {
  nodeName?: string;
  socket: string;
  kubeconfig?: string;
  heartbeatSeconds: number;
  refreshSeconds: number;
  logLevel: LogLevel;
}

export function registerAgentCommand(program: Command): void {
  program
    .command('agent')
    .description("run the per-node agent: report the host's update state into its NodeUpdate and act on its spec through the host update API")
    .addOption(new Option('--node-name <name>', 'this node (the DaemonSet sets it from spec.nodeName)').env('NODE_NAME'))
    .addOption(new Option('--socket <path>', "the host update API's Unix socket").env('UPDOG_API_SOCKET').default(DEFAULT_API_SOCKET))
    .addOption(new Option('--kubeconfig <path>', 'kubeconfig (default: in-cluster service account, or $KUBECONFIG)').env('KUBECONFIG'))
    .addOption(new Option('--heartbeat-seconds <n>', 'report at least this often').argParser(positiveNumber).default(30))
    .addOption(new Option('--refresh-seconds <n>', 're-read the update repository this often').argParser(positiveNumber).default(300))
    .action(async (_opts: unknown, cmd: Command) => {
      const opts = cmd.optsWithGlobals<AgentCliOptions>();
      if (!opts.nodeName) throw new UserError('the agent needs its node name: pass --node-name or set NODE_NAME');
      const client = loadKubeClient(opts.kubeconfig);
      const logger = createLogger('update-operator-agent', opts.logLevel).child({ node: opts.nodeName });
      const agent = new NodeAgent({
        api: new UpdateApiClient(opts.socket),
        store: nodeUpdateStore(client, opts.nodeName),
        logger,
        heartbeatMs: opts.heartbeatSeconds * 1000,
        refreshMs: opts.refreshSeconds * 1000,
      });
      await agent.start();
      logger.info({ socket: opts.socket }, 'agent running');
      // the agent's timers do not hold the process (they are unref'd): this does, until a signal
      const alive = setInterval(() => {}, 2 ** 30);
      await new Promise<void>((resolve) => {
        for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => resolve());
      });
      clearInterval(alive);
      await agent.stop();
    });
}

function positiveNumber(text: string): number {
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`expected a positive number of seconds, got "${text}"`);
  return n;
}
