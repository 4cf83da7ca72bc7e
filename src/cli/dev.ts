import type { Command } from 'commander';

// Placeholder until the 'dev' command lands.
export function registerDev(_program: Command): void {}
