import type { Command } from 'commander';
import { requireCredentials } from '../config/credentials.js';
import { HubApi } from '../agent/hub-api.js';
import { action } from './run.js';
import { colour, line, printJson } from './output.js';
import { messageOf } from '../api/errors.js';

export function registerWhoami(program: Command): void {
  program
    .command('whoami')
    .description('Show this agent’s identity and whether the hub sees it online')
    .option('--json', 'print as JSON')
    .action(
      action(async (opts: { json?: boolean }) => {
        const c = requireCredentials();
        const api = new HubApi(c.hubUrl, c.apiKey, 5000);
        let hubReachable = false;
        let online = false;
        let problem: string | undefined;
        try {
          await api.health();
          hubReachable = true;
          online = (await api.agent(c.agentId)).online;
        } catch (err) {
          problem = messageOf(err);
        }
        const info = {
          agentId: c.agentId,
          label: c.label,
          name: c.name,
          workspace: c.workspace,
          hubUrl: c.hubUrl,
          hubReachable,
          online,
          ...(problem && { problem }),
        };
        if (opts.json) return printJson(info);
        line(`👤 ${colour.bold(c.label)}${c.name ? ` (${c.name})` : ''}`);
        line(`  Agent ID:  ${c.agentId}`);
        line(`  Workspace: ${c.workspace}`);
        line(
          `  Hub:       ${c.hubUrl} ${hubReachable ? colour.green('(reachable)') : colour.red('(unreachable)')}`,
        );
        line(`  Status:    ${online ? colour.green('● online') : '○ offline'}`);
        if (problem) line(`  ${colour.yellow('[!]')} ${problem}`);
      }),
    );
}
