import type { Command } from 'commander';

// Placeholder until the 'daemon' command lands.
export function registerDaemon(_program: Command): void {}
