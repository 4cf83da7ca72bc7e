import { describe, expect, it } from 'vitest';
import { ConnectError } from '../api/errors.js';
import { COMMON_PORTS, parsePortList, parseRange, parseTimeout } from './ports.js';

describe('parsePortList', () => {
  it('reads a comma-separated list, ranges included, without duplicates', () => {
    expect(parsePortList('8080,8443,9000')).toEqual([8080, 8443, 9000]);
    expect(parsePortList(' 22 , 3000-3002,22,')).toEqual([22, 3000, 3001, 3002]);
  });

  it.each(['abc', '0', '70000', '', ',', '80,x', '10-5', '-1'])('rejects %j as bad input', (value) => {
    expect(() => parsePortList(value)).toThrow(ConnectError);
    try {
      parsePortList(value);
    } catch (err) {
      expect((err as ConnectError).code).toBe('BAD_INPUT');
    }
  });
});

describe('parseRange', () => {
  it('expands an inclusive range', () => {
    expect(parseRange('3000-3003')).toEqual([3000, 3001, 3002, 3003]);
    expect(parseRange('1-65535')).toHaveLength(65535);
  });
  it.each(['10-5', '0-10', '1-70000', 'a-b', '5'])('rejects %j', (value) => {
    expect(() => parseRange(value)).toThrow(/--range/);
  });
});

describe('parseTimeout', () => {
  it('accepts milliseconds', () => expect(parseTimeout('250')).toBe(250));
  it.each(['0', '-5', '1.5', 'soon', '9999999'])('rejects %j', (value) => {
    expect(() => parseTimeout(value)).toThrow(/--timeout/);
  });
});

describe('COMMON_PORTS', () => {
  it('covers the ports the seed and the issue name, once each', () => {
    for (const port of [
      80, 443, 3000, 8080, 5432, 6379, 3306, 27017, 3001, 4000, 5000, 5173, 8000, 8443, 9000, 22,
    ]) {
      expect(COMMON_PORTS).toContain(port);
    }
    for (const port of [5672, 1883, 4222, 9200, 11211]) expect(COMMON_PORTS).toContain(port);
    expect(new Set(COMMON_PORTS).size).toBe(COMMON_PORTS.length);
  });
});
