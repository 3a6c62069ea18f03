// A throwaway 3-node nats-server JetStream cluster per test file, for failover tests: free
// loopback ports, a temporary store per node, each node stopped by pid and the store deleted.
// kill()/stop()/start() keep a node's ports and store, so a node can die and come back.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { connect, Empty, type NatsConnection } from 'nats';
import { freePort } from '../../src/start/server-process.ts';

export interface NatsNode {
  /** Its server_name, as a stream's cluster.leader names it. */
  readonly name: string;
  readonly port: number;
  readonly url: string;
  /** The running node's process id; undefined while it is stopped. */
  readonly pid: number | undefined;
  readonly running: boolean;
}

export interface NatsCluster {
  readonly nodes: readonly NatsNode[];
  /** Comma-separated client URLs of all nodes, as NATS_URL takes them. */
  readonly urls: string;
  /** SIGKILL one node (by name), resolve when its process has exited. */
  kill(name: string): Promise<void>;
  /** SIGTERM (then SIGKILL after 5 s) one node. */
  stop(name: string): Promise<void>;
  /** Start a stopped/killed node again on the same ports and store; resolve when its client port accepts connections. */
  start(name: string): Promise<void>;
  /**
   * The server_name of the stream's current leader, or undefined while there is none or the
   * request fails or times out (1 s). `nc` is any client connection to the cluster.
   */
  streamLeader(nc: NatsConnection, stream: string): Promise<string | undefined>;
  /** Stops every node and deletes the store; safe to call twice. */
  close(): Promise<void>;
}

const START_MS = 15_000;
// Routes and the meta leader's election take about a second after the ports open (2.9.10 on
// loopback); the rest is room for a loaded machine.
const READY_MS = 30_000;
const LEADER_REQUEST_MS = 1000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = tcpConnect(port, '127.0.0.1');
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });
}

/** Distinct free ports: freePort() closes its listener, so two calls may hand out the same one. */
async function freePorts(n: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < n) ports.add(await freePort());
  return [...ports];
}

interface Node extends NatsNode {
  child: ChildProcess | undefined;
  stderr: string;
  readonly config: string;
}

function isRunning(proc: ChildProcess | undefined): proc is ChildProcess {
  return !!proc && proc.exitCode === null && proc.signalCode === null;
}

export async function startNatsCluster(size = 3): Promise<NatsCluster> {
  const dir = mkdtempSync(path.join(tmpdir(), 'statehub-natsc-'));
  const ports = await freePorts(2 * size);
  const routes = ports.slice(size).map((p) => `nats-route://127.0.0.1:${p}`);
  const nodes: Node[] = [];
  for (let i = 0; i < size; i++) {
    const name = `n${i + 1}`;
    const port = ports[i]!;
    const config = path.join(dir, `${name}.conf`);
    writeFileSync(
      config,
      [
        `server_name: ${name}`,
        `listen: 127.0.0.1:${port}`,
        `jetstream { store_dir: ${JSON.stringify(path.join(dir, name))} }`,
        `cluster { name: c, listen: 127.0.0.1:${ports[size + i]}, routes: [${routes.join(', ')}] }`,
        '',
      ].join('\n'),
    );
    nodes.push({
      name,
      port,
      url: `nats://127.0.0.1:${port}`,
      config,
      child: undefined,
      stderr: '',
      get pid() {
        return this.child?.pid;
      },
      get running() {
        return isRunning(this.child);
      },
    });
  }
  let closed = false;
  // Should the test process exit without close() (a crash, mocha's --exit), the nodes go too.
  const killAll = () => nodes.forEach((n) => n.child?.kill('SIGKILL'));
  process.on('exit', killAll);

  function node(name: string): Node {
    const n = nodes.find((x) => x.name === name);
    if (!n) throw new Error(`no node ${name} (nodes: ${nodes.map((x) => x.name).join(', ')})`);
    return n;
  }

  /** Its last words may still be in the pipe when it has exited. */
  async function exitedError(n: Node, proc: ChildProcess): Promise<Error> {
    if (proc.stderr && !proc.stderr.destroyed) {
      await Promise.race([new Promise((r) => proc.stderr!.once('close', r)), sleep(200)]);
    }
    return new Error(`nats-server ${n.name} exited (${proc.signalCode ?? proc.exitCode}): ${n.stderr}`);
  }

  async function start(name: string): Promise<void> {
    if (closed) throw new Error('the cluster is closed');
    const n = node(name);
    if (n.running) return;
    const proc = spawn('nats-server', ['-c', n.config], { stdio: ['ignore', 'ignore', 'pipe'] });
    n.stderr = '';
    proc.stderr?.on('data', (d: Buffer) => (n.stderr = (n.stderr + d.toString()).slice(-4000)));
    // A missing binary is an 'error' event, not an exit; without a listener it would throw.
    let spawnError: Error | undefined;
    proc.once('error', (err) => (spawnError = err));
    n.child = proc;
    const deadline = Date.now() + START_MS;
    while (Date.now() < deadline) {
      if (spawnError) throw new Error(`nats-server ${n.name} could not run: ${spawnError.message}`);
      if (!isRunning(proc)) throw await exitedError(n, proc);
      if (await canConnect(n.port)) return;
      await sleep(50);
    }
    throw new Error(`nats-server ${n.name} did not listen on ${n.port} within ${START_MS / 1000} s: ${n.stderr}`);
  }

  async function end(name: string, signal: NodeJS.Signals): Promise<void> {
    const n = node(name);
    const proc = n.child;
    if (!isRunning(proc)) return;
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    proc.kill(signal);
    const timer = signal === 'SIGKILL' ? undefined : setTimeout(() => proc.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }

  /** Every node answers a JetStream API request: the meta leader is elected and reachable from each. */
  async function jetStreamReady(): Promise<void> {
    const deadline = Date.now() + READY_MS;
    for (const n of nodes) {
      let lastError: unknown;
      while (true) {
        const proc = n.child;
        if (!isRunning(proc)) throw await exitedError(n, proc!);
        if (Date.now() > deadline) {
          const tails = nodes.map((x) => `--- ${x.name}:\n${x.stderr}`).join('\n');
          throw new Error(`JetStream did not answer through ${n.name} within ${READY_MS / 1000} s (${String(lastError)}):\n${tails}`);
        }
        let nc: NatsConnection | undefined;
        try {
          nc = await connect({ servers: n.url, reconnect: false, timeout: 1000 });
          // jetstreamManager() requests the account info ($JS.API.INFO) and throws without
          // JetStream. Until the meta leader is elected (about 1 s) the request goes unanswered,
          // so a short timeout, retried, notices the election sooner.
          await nc.jetstreamManager({ timeout: 500 });
          break;
        } catch (err) {
          lastError = err;
        } finally {
          await nc?.close().catch(() => {});
        }
        await sleep(100);
      }
    }
  }

  async function close(): Promise<void> {
    if (closed) return;
    closed = true;
    await Promise.all(nodes.map((n) => end(n.name, 'SIGTERM')));
    process.off('exit', killAll);
    rmSync(dir, { recursive: true, force: true });
  }

  try {
    // allSettled: close() only once no start() is still polling.
    const started = await Promise.allSettled(nodes.map((n) => start(n.name)));
    const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    await jetStreamReady();
  } catch (err) {
    await close();
    throw err;
  }

  return {
    nodes,
    urls: nodes.map((n) => n.url).join(','),
    kill: (name) => end(name, 'SIGKILL'),
    stop: (name) => end(name, 'SIGTERM'),
    start,
    async streamLeader(nc, stream) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      // The request's own timeout should fire; the race is for a connection that never settles it.
      const timeout = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), LEADER_REQUEST_MS + 250)));
      const ask = (async () => {
        try {
          const msg = await nc.request(`$JS.API.STREAM.INFO.${stream}`, Empty, { timeout: LEADER_REQUEST_MS });
          const info = JSON.parse(new TextDecoder().decode(msg.data)) as { error?: unknown; cluster?: { leader?: string } };
          return info.error ? undefined : info.cluster?.leader || undefined;
        } catch {
          return undefined;
        }
      })();
      try {
        return await Promise.race([ask, timeout]);
      } finally {
        clearTimeout(timer);
      }
    },
    close,
  };
}

/**
 * Polls (every 100 ms) until `stream` has a leader other than `opts.not` (default: any leader);
 * `at` is performance.now() when it was first seen, for measuring an election. The polls
 * overlap: during an election the servers leave STREAM.INFO unanswered, so each request waits
 * out its 1 s timeout, and waiting for one before the next would blur `at` by up to a second.
 */
export function waitForStreamLeader(
  cluster: NatsCluster,
  nc: NatsConnection,
  stream: string,
  opts: { not?: string; timeoutMs?: number } = {},
): Promise<{ leader: string; at: number }> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const deadline = performance.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    let done = false;
    let last: string | undefined;
    let inFlight = 0;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const poll = () => {
      if (done) return;
      if (performance.now() > deadline) {
        // Requests still out may yet see the leader; give up when the last of them is back.
        if (inFlight === 0) {
          done = true;
          reject(new Error(`stream ${stream} had no leader${opts.not ? ` other than ${opts.not}` : ''} within ${timeoutMs} ms (last: ${last ?? 'none'})`));
        }
        return;
      }
      inFlight++;
      void cluster.streamLeader(nc, stream).then((leader) => {
        const at = performance.now();
        inFlight--;
        if (done) return;
        if (leader !== undefined) last = leader;
        if (leader !== undefined && leader !== opts.not) {
          done = true;
          clearTimeout(timer);
          resolve({ leader, at });
        } else if (performance.now() > deadline) poll();
      });
      timer = setTimeout(poll, 100);
    };
    poll();
  });
}
