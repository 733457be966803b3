#!/usr/bin/env node
import { Command } from 'commander';
import { logLevelOption, runCliMain } from '@updog-ts/updog/common';
import { registerControllerCommand } from './controller.js';
import { registerManifestsCommand } from './manifests.js';
import { registerAgentCommand } from '../agent/cli.js';

const program = new Command('update-operator')
  .description('Kubernetes operator that updates nodes one budget-slot at a time: stage, cordon, drain, reboot, health-gate.')
  .addOption(logLevelOption());

// Each subcommand module adds itself here (one line each).
registerControllerCommand(program);
registerManifestsCommand(program);
registerAgentCommand(program);

runCliMain(program);
