import type { Command } from 'commander';

// Placeholder until the 'proxy' command lands.
export function registerProxy(_program: Command): void {}
