import { describe, expect, it } from 'vitest';
import { parseGreeting } from './identify.js';
import { describeVersion, mysqlGreeting } from './mysql.js';
import { natsGreeting } from './nats.js';
import { sshGreeting } from './ssh.js';

/** A MySQL protocol-10 handshake packet for `version`. */
function mysqlHandshake(version: string): Buffer {
  const payload = Buffer.concat([
    Buffer.from([10]),
    Buffer.from(version + '\0', 'latin1'),
    Buffer.from([1, 0, 0, 0]), // connection id
    Buffer.alloc(8, 0x41), // auth data part 1
    Buffer.from([0, 0xff, 0xf7, 8, 2, 0]),
  ]);
  const header = Buffer.alloc(4);
  header.writeUIntLE(payload.length, 0, 3);
  return Buffer.concat([header, payload]);
}

describe('SSH banner', () => {
  it('reads software and comment, after optional pre-banner lines', () => {
    expect(sshGreeting.parse(Buffer.from('SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n'))).toEqual({
      type: 'ssh',
      details: 'OpenSSH_9.2p1 Debian-2+deb12u3',
    });
    expect(sshGreeting.parse(Buffer.from('hello there\r\nSSH-1.99-dropbear_2022.83\r\n'))?.details).toBe(
      'dropbear_2022.83',
    );
  });
  it('waits for the end of the line and rejects other text', () => {
    expect(sshGreeting.parse(Buffer.from('SSH-2.0-Open'))).toBeNull();
    expect(sshGreeting.parse(Buffer.from('220 smtp.example.com ESMTP\r\n'))).toBeNull();
  });
});

describe('MySQL greeting', () => {
  it('reads MariaDB and MySQL versions', () => {
    expect(mysqlGreeting.parse(mysqlHandshake('5.5.5-10.11.6-MariaDB-0+deb12u1'))?.details).toBe(
      'MariaDB 10.11.6',
    );
    expect(mysqlGreeting.parse(mysqlHandshake('8.0.36'))?.details).toBe('MySQL 8.0.36');
  });
  it('recognises a connection refusal (ERR packet) as MySQL too', () => {
    const message = Buffer.from("Host '10.0.0.9' is not allowed to connect to this MariaDB server");
    const payload = Buffer.concat([Buffer.from([0xff, 0x6a, 0x04]), message]); // error 1130
    const header = Buffer.alloc(4);
    header.writeUIntLE(payload.length, 0, 3);
    expect(mysqlGreeting.parse(Buffer.concat([header, payload]))).toEqual({
      type: 'mysql',
      details: message.toString(),
    });
  });
  it('needs the whole packet and a sane layout', () => {
    const full = mysqlHandshake('8.0.36');
    expect(mysqlGreeting.parse(full.subarray(0, full.length - 1))).toBeNull();
    expect(mysqlGreeting.parse(Buffer.from('HTTP/1.1 400 Bad Request\r\n\r\n'))).toBeNull();
    expect(describeVersion('8.0.36-28')).toBe('MySQL 8.0.36-28');
  });
});

describe('NATS INFO', () => {
  it('reads version and auth requirement', () => {
    const info = 'INFO {"server_id":"NABC","version":"2.10.7","auth_required":true}\r\n';
    expect(natsGreeting.parse(Buffer.from(info))).toEqual({
      type: 'nats',
      details: 'nats-server 2.10.7, auth required',
    });
  });
  it('waits for the whole line and needs a server_id', () => {
    expect(natsGreeting.parse(Buffer.from('INFO {"server_id":"N'))).toBeNull();
    expect(natsGreeting.parse(Buffer.from('INFO {"x":1}\r\n'))).toBeNull();
  });
});

describe('parseGreeting', () => {
  it('tries each server-first protocol', () => {
    expect(parseGreeting(Buffer.from('SSH-2.0-x\r\n'))?.type).toBe('ssh');
    expect(parseGreeting(mysqlHandshake('8.0.1'))?.type).toBe('mysql');
    expect(parseGreeting(Buffer.from('INFO {"server_id":"x"}\r\n'))?.type).toBe('nats');
    expect(parseGreeting(Buffer.from('220 ftp ready\r\n'))).toBeNull();
  });
});
