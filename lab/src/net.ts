import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { execa } from 'execa';
import { LabError } from './harness';
import { LAB_ASSETS } from './paths';

// The lab's network. Each host has its own network namespace (its own 127.0.0.1), plugged into
// a bridge in a switch namespace on 10.77.0.0/24, where hosts reach each other by name. The
// runner reaches a host at its profile address (127.0.10.N on this machine's loopback) through
// a relay inside the host that forwards to the host's own 127.0.0.1.

export const LAB_SUBNET = '10.77.0';

export function labAddress(profileAddress: string): string {
  const last = profileAddress.split('.').pop();
  return `${LAB_SUBNET}.${last}`;
}

function nsExec(pid: number, ...argv: string[]) {
  return execa('nsenter', ['--target', String(pid), '--net', '--', ...argv]);
}

export async function makeBridge(switchPid: number): Promise<void> {
  await nsExec(switchPid, 'ip', 'link', 'add', 'br0', 'type', 'bridge');
  await nsExec(switchPid, 'ip', 'link', 'set', 'br0', 'up');
  await nsExec(switchPid, 'ip', 'link', 'set', 'lo', 'up');
}

/** Gives a host eth0 on the lab bridge with its lab address. */
export async function plugHost(switchPid: number, hostPid: number, address: string): Promise<void> {
  const port = `vh${address.split('.').pop()}`;
  await nsExec(switchPid, 'ip', 'link', 'add', port, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', String(hostPid));
  await nsExec(switchPid, 'ip', 'link', 'set', port, 'master', 'br0', 'up');
  await nsExec(hostPid, 'ip', 'addr', 'add', `${address}/24`, 'dev', 'eth0');
  await nsExec(hostPid, 'ip', 'link', 'set', 'eth0', 'up');
}

/**
 * Listens on address:port of this machine and relays each connection to 127.0.0.1:target inside
 * the host. The relay process lives in the host's namespaces and exits with the lab.
 */
export async function openRelay(hostPid: number, address: string, port: number, target: number, log: number): Promise<ChildProcess> {
  const server: Server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      reject(
        new LabError(
          `lab: cannot listen on ${address}:${port}: ${e.code === 'EADDRINUSE' ? 'the address is in use (another lab or server running?)' : e.message}`,
        ),
      ),
    );
    server.listen({ host: address, port, exclusive: true }, resolve);
  });
  const relay = spawn('nsenter', ['--target', String(hostPid), '--net', '--mount', '--root', '--', process.execPath, join(LAB_ASSETS, 'bin', 'relay.js')], {
    stdio: ['ignore', 'ignore', log, 'ipc'],
  });
  try {
    await new Promise<void>((resolve, reject) => {
      relay.once('error', reject);
      relay.once('exit', (code) => reject(new Error(`lab: relay for ${address}:${port} exited ${code}`)));
      relay.on('message', (m: { kind?: string }) => m.kind === 'ready' && resolve());
      relay.send({ kind: 'listen', port: target }, server);
    });
  } finally {
    server.close();
  }
  relay.removeAllListeners('exit');
  relay.unref();
  relay.channel?.unref();
  return relay;
}
