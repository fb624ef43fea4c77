/**
 * RUN's default network: a network namespace of its own with outbound access through slirp4netns,
 * a user-mode TCP/IP stack (as rootless BuildKit, Podman and rootless Docker give), so a RUN sees
 * neither the host's interfaces nor its loopback (`--disable-host-loopback`: 10.0.2.2 does not
 * reach the host's 127.0.0.1), cannot sniff or spoof the host's traffic with CAP_NET_RAW, and
 * still reaches the outside (package mirrors) through the host's own sockets. The same as root and
 * in keel's user namespace: the namespace is made by a holder process (`unshare --net`) that keel
 * starts, so it belongs to keel's user namespace, and the runtime joins it by path.
 *
 * DNS: the host's resolv.conf, unless it names only loopback servers (systemd-resolved's
 * 127.0.0.53, which are the namespace's own loopback in there): then slirp4netns' forwarder,
 * 10.0.2.3, which asks the host's servers from the host (as Docker drops loopback servers).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile, readlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { KeelError } from '../errors.js';

/** A network namespace set up for one RUN. */
export interface NetworkNamespace {
  /** The namespace for the spec (`/proc/PID/ns/net`). */
  readonly namespace: string;
  /** A resolv.conf to bind instead of the host's. */
  readonly resolvConf?: string;
  /** Stop the network and let the namespace go (once the container is gone). */
  close(): Promise<void>;
}

/** Makes the network of a 'sandbox' RUN. */
export interface NetworkProvider {
  /** A namespace for a RUN whose bundle is `bundle` (files it needs are written there). */
  open(bundle: string, signal?: AbortSignal): Promise<NetworkNamespace>;
}

/** slirp4netns' address for its DNS forwarder (its default 10.0.2.0/24 network). */
const SLIRP_DNS = '10.0.2.3';

/** The resolv.conf a RUN in its own namespace gets: undefined for the host's as it is. */
export function sandboxResolvConf(host: string): string | undefined {
  const servers = host.split('\n').map((l) => /^\s*nameserver\s+(\S+)/.exec(l)?.[1]).filter((s): s is string => s !== undefined);
  const loopback = (s: string): boolean => /^127\./.test(s) || s === '::1';
  if (servers.length > 0 && !servers.every(loopback)) return undefined;
  const kept = host.split('\n').filter((l) => !/^\s*nameserver\s/.test(l)).join('\n').trim();
  return `nameserver ${SLIRP_DNS}\n${kept === '' ? '' : `${kept}\n`}`;
}

/** Wait until `pid` is in a network namespace other than ours (`unshare` has done its work). */
async function unshared(pid: number, signal?: AbortSignal): Promise<void> {
  const ours = await readlink('/proc/self/ns/net');
  for (let i = 0; i < 2000; i++) {
    if (signal?.aborted === true) throw new KeelError('E_ABORTED', 'build aborted');
    const theirs = await readlink(`/proc/${pid}/ns/net`).catch(() => ours);
    if (theirs !== ours) return;
    await new Promise((r) => setTimeout(r, 1));
  }
  throw new KeelError('E_RUN_SETUP', 'RUN\'s network namespace was not made in time (unshare --net)');
}

/** One namespace with slirp4netns attached, not yet given to a RUN. */
interface Prepared {
  readonly pid: number;
  close(): void;
  /** Let the process end while these two run (a spare must not keep a finished build alive). */
  unref(): void;
}

/**
 * Make a namespace and attach slirp4netns to it. Both processes end with keel, even a keel killed
 * with -9: the holder (`cat`) at the end of its stdin, slirp4netns at the end of its --exit-fd.
 */
async function prepare(signal?: AbortSignal): Promise<Prepared> {
  const holder = spawn('unshare', ['--net', '--', 'cat'], { stdio: ['pipe', 'ignore', 'ignore'] });
  const failed = new Promise<never>((_, reject) => holder.once('error', (e) => reject(new KeelError('E_RUN_SETUP', `RUN's network namespace needs unshare (util-linux): ${e.message}`))));
  failed.catch(() => undefined);
  let slirp: ChildProcess | undefined;
  const close = (): void => {
    // ends both without waiting: nothing of a RUN waits for them to go
    slirp?.kill('SIGKILL');
    holder.kill('SIGKILL');
  };
  try {
    const pid = holder.pid;
    if (pid === undefined) await failed;
    await Promise.race([unshared(pid as number, signal), failed]);
    // --ready-fd: slirp4netns writes "1" there once tap0 is up and configured; --exit-fd: it ends when that closes
    slirp = spawn('slirp4netns', ['--configure', '--mtu=65520', '--disable-host-loopback', '--ready-fd=3', '--exit-fd=4', String(pid), 'tap0'], { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'] });
    const started = slirp;
    let said = '';
    started.stderr?.on('data', (d: Buffer) => { said = (said + d.toString('utf8')).slice(-2000); });
    await new Promise<void>((resolve, reject) => {
      started.once('error', (e) => reject(new KeelError('E_RUN_SETUP', `RUN's network needs slirp4netns on PATH (Debian: apt-get install slirp4netns), or use --network none: ${e.message}`)));
      started.once('close', (code) => {
        const tun = said.includes('/dev/net/tun') ? ' (slirp4netns opens /dev/net/tun as this user: mode 0666, as Debian\'s udev makes it)' : '';
        reject(new KeelError('E_RUN_SETUP', `slirp4netns exited (${code ?? 'signal'}) before RUN's network was up${said === '' ? '' : `: ${said.trim()}`}${tun}; --network none runs without it`));
      });
      (started.stdio[3] as NodeJS.ReadableStream).once('data', () => resolve());
    });
    const unref = (): void => {
      for (const child of [holder, started]) {
        child.unref();
        for (const pipe of child.stdio) (pipe as { unref?: () => void } | null)?.unref?.();
      }
    };
    return { pid: pid as number, close, unref };
  } catch (e) {
    close();
    throw e;
  }
}

/**
 * Namespaces made one ahead: a RUN takes the one made while the RUN before it ran (making one takes
 * ~20 ms), and a spare nobody takes within a few seconds is ended.
 */
export function slirpNetwork(resolvConfPath = '/etc/resolv.conf'): NetworkProvider {
  let resolv: Promise<string | undefined> | undefined;
  let spare: { readonly ready: Promise<Prepared>; readonly timer: NodeJS.Timeout } | undefined;
  const makeSpare = (): void => {
    const ready = prepare();
    ready.then((p) => p.unref(), () => undefined); // its failure is the next open's
    const timer = setTimeout(() => {
      if (spare?.ready !== ready) return;
      spare = undefined;
      void ready.then((p) => p.close(), () => undefined);
    }, 3000);
    timer.unref();
    spare = { ready, timer };
  };
  return {
    async open(bundle, signal) {
      resolv ??= readFile(resolvConfPath, 'utf8').then(sandboxResolvConf, () => `nameserver ${SLIRP_DNS}\n`);
      const taken = spare;
      spare = undefined;
      if (taken !== undefined) clearTimeout(taken.timer);
      const prepared = await (taken?.ready.catch(() => prepare(signal)) ?? prepare(signal));
      makeSpare();
      try {
        const conf = await resolv;
        let resolvConf: string | undefined;
        if (conf !== undefined) {
          resolvConf = join(bundle, 'resolv.conf');
          await writeFile(resolvConf, conf);
        }
        return { namespace: `/proc/${prepared.pid}/ns/net`, ...(resolvConf === undefined ? {} : { resolvConf }), close: async () => prepared.close() };
      } catch (e) {
        prepared.close();
        throw e;
      }
    },
  };
}
