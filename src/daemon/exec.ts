import { spawnSync } from 'node:child_process';

export interface ExecResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** Set when the program could not be run at all (not installed). */
  error?: string | undefined;
}

/** Runs a program with an argv array (never through a shell), so that paths with spaces stay one argument. */
export type Runner = (cmd: string, args: string[]) => ExecResult;

export const runProgram: Runner = (cmd, args) => {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 30_000, stdio: ['ignore', 'pipe', 'pipe'] });
  return {
    code: r.status,
    stdout: typeof r.stdout === 'string' ? r.stdout : '',
    stderr: typeof r.stderr === 'string' ? r.stderr : '',
    error: r.error?.message,
  };
};

/** The first useful line of a failed program's output, for a one-line report. */
export function describeFailure(r: ExecResult): string {
  if (r.error) return r.error;
  const text = (r.stderr || r.stdout).trim().split('\n')[0];
  return text ? text : `exit code ${String(r.code)}`;
}
