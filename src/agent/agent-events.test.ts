import { describe, expect, it } from 'vitest';
import { lineOf, parseAgentEventRecord, renderAgentEvent, type AgentEvent } from './agent-events.js';
import { parseServiceName } from '../api/service-name.js';

const line = (e: AgentEvent): string => lineOf(renderAgentEvent(e));

describe('agent events render to the seeds’ log lines', () => {
  it('keeps the daemon seed’s lines word for word', () => {
    expect(line({ type: 'agent-starting' })).toBe('🚀 Starting Private Connect Agent...');
    expect(line({ type: 'registered' })).toBe('[ok] Registered with hub');
    expect(line({ type: 'hub-connected', hubUrl: 'http://h' })).toBe('[ok] Connected to hub via WebSocket');
    expect(line({ type: 'dialing', target: 'localhost:5432', streamId: 0x1f })).toBe(
      'Dialing localhost:5432 for connection 0000001f...',
    );
    expect(line({ type: 'target-connected', target: 'localhost:5432' })).toBe(
      '[ok] Connected to localhost:5432',
    );
    expect(line({ type: 'agent-stopping' })).toBe('Stopping agent...');
  });

  it('renders exposures, failures and reconnects with their level', () => {
    const exposed: AgentEvent = {
      type: 'exposed',
      name: parseServiceName('Kept'),
      target: 'localhost:80',
      tunnelPort: 23001,
    };
    expect(line(exposed)).toBe('[ok] Exposing kept → localhost:80 (tunnel port 23001)');
    expect(renderAgentEvent({ type: 'expose-failed', name: 'x', reason: 'no' })).toEqual({
      level: 'error',
      mark: 'x',
      message: 'Cannot expose x: no',
    });
    expect(
      renderAgentEvent({ type: 'hub-reconnecting', reason: 'connection closed', delayMs: 1250, attempt: 2 }),
    ).toEqual({
      level: 'warn',
      message: 'Hub connection lost (connection closed); reconnecting in 1.3s (attempt 2)',
    });
  });

  it('parses its own records back and nothing else', () => {
    const event: AgentEvent = { type: 'proxy-hub-refused', reason: 'bad key' };
    const record = { time: new Date().toISOString(), ...renderAgentEvent(event), shown: true, event };
    expect(parseAgentEventRecord(JSON.stringify(record))).toEqual(record);
    expect(parseAgentEventRecord('[12:00:00] [x] not a record')).toBeUndefined();
    expect(parseAgentEventRecord('{"stats":{"rss":1}}')).toBeUndefined();
  });
});
