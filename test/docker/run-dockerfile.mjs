#!/usr/bin/env node
/**
 * No Docker engine runs here, so this runs the Dockerfile's own steps outside Docker: every stage
 * gets a scratch root directory, WORKDIR/COPY/RUN/USER/CMD are carried out in order, and absolute
 * paths the Dockerfile uses (its WORKDIRs, /usr/local/bin) are mapped into that stage's root.
 * The base image is this machine's Node 20 and shell. Prints the final stage's root on stdout.
 *
 *   node test/docker/run-dockerfile.mjs [--keep]
 */
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const CONTEXT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Dockerfile instructions with line continuations joined and comments dropped. */
export function parseDockerfile(text) {
  const logical = text.replace(/\\\n/g, ' ').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  return logical.map((line) => {
    const space = line.indexOf(' ');
    return { op: line.slice(0, space).toUpperCase(), args: line.slice(space + 1).trim() };
  });
}

export function runDockerfile(dockerfile = join(CONTEXT, 'Dockerfile'), log = (s) => process.stderr.write(`${s}\n`)) {
  const scratch = mkdtempSync(join(tmpdir(), 'dockerfile-'));
  const stages = new Map();
  let stage;
  const instructions = parseDockerfile(readFileSync(dockerfile, 'utf8'));
  const fixedPaths = new Set(['/usr/local/bin', ...instructions.filter((i) => i.op === 'WORKDIR').map((i) => i.args)]);
  const inStage = (path) => join(stage.root, path.startsWith('/') ? path : join(stage.workdir, path));
  const mapPaths = (command) => [...fixedPaths].reduce((cmd, p) => cmd.split(p).join(join(stage.root, p)), command);

  for (const { op, args } of instructions) {
    log(`${op} ${args}`);
    switch (op) {
      case 'FROM': {
        const name = /\s+AS\s+(\S+)$/i.exec(args)?.[1] ?? `stage${stages.size}`;
        stage = { name, root: join(scratch, name), workdir: '/', user: 'root', cmd: undefined };
        mkdirSync(join(stage.root, 'usr/local/bin'), { recursive: true });
        stages.set(name, stage);
        break;
      }
      case 'WORKDIR':
        stage.workdir = args;
        mkdirSync(inStage(args), { recursive: true });
        break;
      case 'COPY': {
        const parts = args.split(/\s+/);
        const from = parts[0].startsWith('--from=') ? stages.get(parts.shift().slice(7)) : undefined;
        const dest = parts.pop();
        for (const src of parts) {
          const source = from ? join(from.root, src) : join(CONTEXT, src);
          const target = dest.endsWith('/') ? join(inStage(dest), src.split('/').pop()) : inStage(dest);
          mkdirSync(dirname(target), { recursive: true });
          cpSync(source, target, { recursive: true, verbatimSymlinks: true }); // as Docker: links stay relative
        }
        break;
      }
      case 'RUN':
        execFileSync('bash', ['-ec', mapPaths(args)], { cwd: inStage(stage.workdir), stdio: ['ignore', 'inherit', 'inherit'] });
        break;
      case 'USER':
        stage.user = args;
        break;
      case 'CMD':
        stage.cmd = JSON.parse(args);
        break;
      default:
        throw new Error(`unsupported Dockerfile instruction ${op}`);
    }
  }
  return { scratch, final: stage };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { scratch, final } = runDockerfile();
  process.stdout.write(`${JSON.stringify({ root: final.root, user: final.user, cmd: final.cmd })}\n`);
  if (!process.argv.includes('--keep')) rmSync(scratch, { recursive: true, force: true });
}
