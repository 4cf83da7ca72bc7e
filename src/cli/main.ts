#!/usr/bin/env node
import { Command } from 'commander';
import { registerHubCommands } from './hub.js';
import { registerUp } from './up.js';
import { registerWhoami } from './whoami.js';
import { registerExpose } from './expose.js';
import { registerReach } from './reach.js';
import { registerDiscover } from './discover.js';
import { registerProxy } from './proxy.js';
import { registerDev } from './dev.js';
import { registerDaemon } from './daemon.js';
import { reportAndExit } from './run.js';
import { VERSION } from '../version.js';

const program = new Command();
program
  .name('connect')
  .description('Private Connect: reach private TCP services on other machines by name.')
  .version(VERSION)
  .showHelpAfterError('(run with --help for usage)')
  // Reject stray positional arguments everywhere instead of silently ignoring them.
  .allowExcessArguments(false);

registerHubCommands(program);
registerUp(program);
registerWhoami(program);
registerExpose(program);
registerReach(program);
registerDiscover(program);
registerProxy(program);
registerDev(program);
registerDaemon(program);

program.parseAsync(process.argv).catch(reportAndExit);
