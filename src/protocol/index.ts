// The wire protocol: codec, multiplexed sessions and streams, and their bindings to sockets and WebSockets.
export * from './frames.js';
export * from './stream.js';
export * from './stream-state.js';
export * from './session.js';
export * from './socket-bridge.js';
export * from './ws-transport.js';
