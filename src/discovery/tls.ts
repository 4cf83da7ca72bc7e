import type { TLSSocket } from 'node:tls';
import { Conversation } from './conversation.js';
import { describeHttp, httpComplete, httpRequest, parseHttpResponse } from './http.js';
import type { ClientFirstProber } from './probe.js';
import { printable } from './probe.js';

/**
 * TLS: a handshake (certificate not verified: we identify, we do not trust), then `GET /` inside it. A TLS
 * service that does not answer HTTP is listed as `tls` with the certificate's subject.
 */
export const tlsProber: ClientFirstProber = {
  name: 'https',
  hintPorts: [443, 4443, 6443, 8443, 9443],
  async probe(target, deadline) {
    const conversation = await Conversation.open(target, deadline, { tls: true });
    if (!conversation) return { match: null };
    try {
      const socket = conversation.socket as TLSSocket;
      const facts = [socket.getProtocol() ?? 'TLS'];
      const subject = socket.getPeerCertificate().subject as Record<string, unknown> | undefined;
      const cn = subject?.CN;
      if (typeof cn === 'string') facts.push(printable(`CN=${cn}`, 60));
      conversation.write(httpRequest(target));
      const reply = await conversation.until(httpComplete, deadline);
      const response = parseHttpResponse(reply.data);
      if (response) return { match: describeHttp('https', response) };
      return { match: { type: 'tls', details: facts.join(', ') } };
    } finally {
      conversation.close();
    }
  },
};
