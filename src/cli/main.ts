#!/usr/bin/env node
import { Command } from 'commander';
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

type Register = (program: Command) => void;

/**
 * Each command's module is loaded only when that command runs: `connect reach` does not load the hub's web
 * framework and database drivers, and a hub does not carry the CLI's other commands in its heap.
 */
const commands: Record<string, () => Promise<Register>> = {
  hub: async () => (await import('./hub.js')).registerHubCommands,
  up: async () => (await import('./up.js')).registerUp,
  whoami: async () => (await import('./whoami.js')).registerWhoami,
  expose: async () => (await import('./expose.js')).registerExpose,
  reach: async () => (await import('./reach.js')).registerReach,
  discover: async () => (await import('./discover.js')).registerDiscover,
  proxy: async () => (await import('./proxy.js')).registerProxy,
  dev: async () => (await import('./dev.js')).registerDev,
  daemon: async () => (await import('./daemon.js')).registerDaemon,
  share: async () => (await import('./share.js')).registerShare,
};

async function main(): Promise<void> {
  const name = process.argv[2];
  // Help, --version and unknown commands need every command registered (to list them or suggest one).
  const wanted = name !== undefined && name in commands ? [commands[name]!] : Object.values(commands);
  for (const load of wanted) (await load())(program);
  await program.parseAsync(process.argv);
}

main().catch(reportAndExit);
