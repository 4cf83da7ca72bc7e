import type { Command } from 'commander';
import { requireCredentials } from '../config/credentials.js';
import { parseServiceName } from '../api/service-name.js';
import { MAX_SHARE_LIFETIME_MS } from '../api/share.js';
import { createShare, listShares, revokeShare } from '../app/share.js';
import { action } from './run.js';
import { colour, line, ok, printJson } from './output.js';

interface ShareFlags {
  expires?: string;
  to?: string;
  json?: boolean;
}

/** `connect share <name> [--expires 4h] [--to label]`, `connect share list`, `connect share revoke <id>`. */
export function registerShare(program: Command): void {
  const share = program
    .command('share')
    .description(
      'Share one service with a token that works on a machine with no credentials, until it expires',
    );

  share
    .command('create', { isDefault: true })
    .description('Create a share (the default: `connect share <name>`); the token is shown once')
    .argument('<name>', 'service name')
    .option(
      '--expires <duration>',
      `how long the token works: a number and s, m, h or d, at most ${MAX_SHARE_LIFETIME_MS / 86_400_000}d (default 1h)`,
    )
    .option('--to <label>', 'who the share is for (shown by `share list`)')
    .option('--json', 'print as JSON')
    .action(
      action(async (rawName: string, flags: ShareFlags) => {
        const name = parseServiceName(rawName);
        const created = await createShare(requireCredentials(), name, flags);
        if (flags.json) return printJson(created);
        ok(
          `Shared ${colour.bold(name)} until ${created.expiresAt}${created.to ? ` with ${created.to}` : ''}`,
        );
        line(`  ${created.token}`);
        line(colour.dim(`  Shown once. On the other machine: connect reach ${name} --token <token>`));
        line(colour.dim(`  Revoke: connect share revoke ${created.id}`));
      }),
    );

  share
    .command('list')
    .description('List shares: id, service, expiry, to, state (never the tokens)')
    .option('--json', 'print as JSON')
    .action(
      action(async (flags: { json?: boolean }) => {
        const rows = await listShares(requireCredentials());
        if (flags.json) return printJson(rows);
        if (rows.length === 0) return line('No shares yet. Create one: connect share <name> --expires 4h');
        for (const r of rows) {
          const state = r.state === 'active' ? r.state : colour.dim(r.state);
          line(
            `  ${r.id}  ${r.service.padEnd(20)} ${r.expiresAt}  ${state.padEnd(7)}  ${r.to ?? ''}`.trimEnd(),
          );
        }
      }),
    );

  share
    .command('revoke')
    .description('Revoke a share: new reaches fail, its live streams end within seconds')
    .argument('<id>', 'share id (as `share list` shows)')
    .action(
      action(async (id: string) => {
        await revokeShare(requireCredentials(), id);
        ok(`Share ${id} revoked`);
      }),
    );
}
