// Marks the CLI entry point executable so `npm link` / `npx connect` work straight from dist/.
import { chmodSync, existsSync } from 'node:fs';

const entry = new URL('../dist/cli/main.js', import.meta.url);
if (existsSync(entry)) chmodSync(entry, 0o755);
