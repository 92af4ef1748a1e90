// The outside's echo server (started by outside.ts inside the outside namespace): a TCP and a UDP
// server on one port that first tell the client the address they see it from, then echo what it
// sends. A pod that reaches it through masquerading reads its node's address in the first line.
//   TCP: on connect, `peer <addr>:<port>\n`, then every byte received is sent back.
//   UDP: every datagram is answered with `peer <addr>:<port> ` followed by the datagram.
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';

const port = Number(process.argv[2] ?? 7000);
if (!Number.isInteger(port) || port < 1 || port > 65535) {
  process.stderr.write(`outside-echo: not a port: ${process.argv[2]}\n`);
  process.exit(2);
}

const tcp = createServer((s) => {
  s.setNoDelay(true);
  s.on('error', () => s.destroy());
  s.write(`peer ${s.remoteAddress}:${s.remotePort}\n`);
  s.pipe(s);
});
tcp.listen(port, '0.0.0.0');

const udp = createSocket('udp4');
udp.on('message', (msg, r) => {
  udp.send(Buffer.concat([Buffer.from(`peer ${r.address}:${r.port} `), msg]), r.port, r.address);
});
udp.bind(port, '0.0.0.0');

process.on('SIGTERM', () => process.exit(0));
