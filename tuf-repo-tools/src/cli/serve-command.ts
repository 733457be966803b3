import { Command } from 'commander';
import { UserError } from '@updog-ts/updog/common';
import { serveDirectory } from '../serve/static-server.js';
import { loggerOf } from './options.js';

function parsePort(text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n > 65535) throw new UserError(`invalid port "${text}"`);
  return n;
}

export function serveCommand(): Command {
  return new Command('serve')
    .description('serve DIR over HTTP (GET/HEAD, byte ranges) for local testing; prints the URL; stops on SIGINT/SIGTERM')
    .argument('<dir>')
    .option('--port <port>', 'TCP port (0: any free port)', parsePort, 0)
    .option('--host <address>', 'address to bind', '127.0.0.1')
    .action(async (dir: string, opts: { port: number; host: string }, cmd: Command) => {
      const log = loggerOf(cmd);
      const server = await serveDirectory(dir, { host: opts.host, port: opts.port }).catch((err: Error) => {
        throw new UserError(`cannot serve ${dir} on ${opts.host}:${opts.port}: ${err.message}`, { cause: err });
      });
      if (!/^(127\.|::1$|localhost$)/.test(opts.host)) log.warn({ host: opts.host }, 'serving on a non-loopback address');
      process.stdout.write(`${server.url}\n`);
      await new Promise<void>((resolve) => {
        const stop = (): void => {
          void server.close().then(resolve);
        };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      log.info('server stopped');
    });
}
