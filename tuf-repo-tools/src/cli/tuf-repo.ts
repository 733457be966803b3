#!/usr/bin/env node
import { Command } from 'commander';
import { logLevelOption, runCliMain } from '@updog-ts/updog/common';
import { imageCommand } from './image-commands.js';
import { keyCommand } from './key-commands.js';
import { manifestCommand } from './manifest-commands.js';
import { releaseCommand } from './release-command.js';
import { repoCommands } from './repo-commands.js';
import { rootCommand } from './root-commands.js';
import { serveCommand } from './serve-command.js';

const program = new Command('tuf-repo')
  .description('Build, sign, publish and maintain TUF update repositories for updog.')
  .addOption(logLevelOption())
  .addHelpText(
    'after',
    `
Exit codes:
  0   success
  1   failure (bad input, verification failure, below threshold, expiring metadata found)
  64  command-line usage error`,
  );

program.addCommand(keyCommand());
program.addCommand(rootCommand());
for (const cmd of repoCommands()) program.addCommand(cmd);
program.addCommand(manifestCommand());
program.addCommand(imageCommand());
program.addCommand(releaseCommand());
program.addCommand(serveCommand());

runCliMain(program);
