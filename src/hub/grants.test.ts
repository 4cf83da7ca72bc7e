import { describe, expect, it } from 'vitest';
import { isGranted } from './access.js';
import { grantRefusal, isGrantRefusal, MAX_GRANTS_PER_SERVICE, parseGrantees } from '../api/grants.js';

const session = { agentId: 'agent_me', agentLabel: 'laptop', apiKeyId: '0123456789abcdef' };

describe('isGranted', () => {
  it('lets everyone in without grants, and with grants only the owner, a granted label or key id', () => {
    expect(isGranted(session, 'agent_owner', [])).toBe(true);
    expect(isGranted(session, 'agent_owner', ['ci-box'])).toBe(false);
    expect(isGranted(session, 'agent_me', ['ci-box'])).toBe(true);
    expect(isGranted(session, 'agent_owner', ['laptop'])).toBe(true);
    expect(isGranted(session, 'agent_owner', ['0123456789abcdef'])).toBe(true);
    expect(isGranted(session, 'agent_owner', ['Laptop'])).toBe(false);
  });
});

describe('parseGrantees', () => {
  it('splits comma lists, trims, drops duplicates, refuses bad ones and too many in one line', () => {
    expect(parseGrantees(['a,b', ' c ', 'a'])).toEqual(['a', 'b', 'c']);
    expect(() => parseGrantees(['ok', 'bad/name'])).toThrow(/invalid grantee 'bad\/name'/);
    const many = Array.from({ length: MAX_GRANTS_PER_SERVICE + 1 }, (_, i) => `g${i}`);
    expect(() => parseGrantees(many)).toThrow(/at most 64/);
  });

  it('recognises its own refusal line only for the same service', () => {
    expect(isGrantRefusal('db', grantRefusal('db'))).toBe(true);
    expect(isGrantRefusal('db2', grantRefusal('db'))).toBe(false);
    expect(isGrantRefusal('db', undefined)).toBe(false);
  });
});
