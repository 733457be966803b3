#!/usr/bin/env node
import { Command } from 'commander';
import { logLevelOption, runCliMain } from '../common/cli-main.js';
import { keepYoungGenerationSmall } from '../common/young-generation.js';
import { checkUpdateCommand } from './check-update.js';
import { tufCommand } from './tuf.js';
import { updateCommands } from './update.js';
import { apiCommand, serveCommand } from './serve.js';

keepYoungGenerationSmall();

const program = new Command('updog')
  .description('Bottlerocket-style OS update agent: finds, verifies and installs signed OS images on the inactive A/B partition set.')
  .addOption(logLevelOption())
  .addHelpText(
    'after',
    `
Exit codes:
  0   success
  1   failure (bad configuration, verification failure, I/O error)
  2   nothing to do (no update available / nothing staged)
  3   busy: another updog process holds the lock
  64  command-line usage error`,
  );

// Each command module adds itself here (one line each).
program.addCommand(checkUpdateCommand());
program.addCommand(tufCommand());
for (const command of updateCommands()) program.addCommand(command);
program.addCommand(serveCommand());
program.addCommand(apiCommand());

runCliMain(program);
