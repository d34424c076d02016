#!/usr/bin/env node
// Runs inside a lab host's network namespace. The lab hands it, over the IPC channel, listening
// sockets it opened on this machine's loopback (127.0.10.N:PORT); each connection is relayed,
// byte for byte, to 127.0.0.1:PORT inside the host. It exits when the lab goes away.
const net = require('node:net');

process.on('message', (msg, server) => {
  if (!msg || msg.kind !== 'listen' || !server) return;
  server.on('connection', (client) => {
    const upstream = net.connect({ host: '127.0.0.1', port: msg.port });
    // No Nagle on either side: a relay must not hold a small write back for the peer's ACK.
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    client.pipe(upstream).pipe(client);
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end);
    upstream.on('error', end);
    client.on('close', end);
    upstream.on('close', end);
  });
  process.send({ kind: 'ready', port: msg.port });
});
process.on('disconnect', () => process.exit(0));
