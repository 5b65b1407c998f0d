// What the operating system lets one machine hold in TCP connections, read where Linux keeps
// it, and how the runner stays inside it: every connection is a file descriptor in the runner
// and another in the server (RLIMIT_NOFILE per process), and every connection to the server's
// one address and port needs its own local port on the runner's source address
// (ip_local_port_range, about 28,000). Past a source address's ports the runner moves on to
// the next loopback address: all of 127.0.0.0/8 reaches the server on Linux without any setup.
import { readFileSync } from 'node:fs';

export interface OpenFileLimit {
  soft: number;
  hard: number;
  /** Whether this process may raise the hard limit (CAP_SYS_RESOURCE). */
  raisable: boolean;
}

/** RLIMIT_NOFILE of this process (the layout it spawns inherits it); null where /proc is not Linux's. */
export function openFileLimit(): OpenFileLimit | null {
  try {
    const line = /^Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    if (!line) return null;
    const value = (s: string | undefined) => (s === 'unlimited' ? Number.POSITIVE_INFINITY : Number(s));
    const capabilities = /^CapEff:\s+([0-9a-f]+)/m.exec(readFileSync('/proc/self/status', 'utf8'));
    const CAP_SYS_RESOURCE = 24n;
    const raisable = capabilities?.[1] ? ((BigInt(`0x${capabilities[1]}`) >> CAP_SYS_RESOURCE) & 1n) === 1n : false;
    return { soft: value(line[1]), hard: value(line[2]), raisable };
  } catch {
    return null;
  }
}

/** The local ports one source address has for connections to one server address and port. */
export function ephemeralPorts(): { low: number; high: number; count: number } | null {
  try {
    const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (low === undefined || high === undefined || !(high >= low)) return null;
    return { low, high, count: high - low + 1 };
  } catch {
    return null;
  }
}

/** net.core.somaxconn: the kernel's cap on a listen backlog. */
export function somaxconn(): number | null {
  try {
    return Number(readFileSync('/proc/sys/net/core/somaxconn', 'utf8').trim());
  } catch {
    return null;
  }
}

/** The i-th loopback address: 127.0.0.1, 127.0.0.2, ..., 127.0.0.254, 127.0.1.1, ... */
export function loopbackAddress(i: number): string {
  return `127.0.${Math.floor(i / 254)}.${(i % 254) + 1}`;
}

export interface SourcePlan {
  /** Source addresses in order; browser i connects from addresses[floor(i / browsersPerAddress)]. */
  addresses: string[];
  browsersPerAddress: number;
}

/**
 * Spreads `browsers` over as few loopback source addresses as hold them, each browser taking
 * at most `portsPerBrowser` local ports, each address `portsPerAddress`.
 */
export function planSources(browsers: number, portsPerBrowser: number, portsPerAddress: number): SourcePlan {
  const browsersPerAddress = Math.max(1, Math.floor(portsPerAddress / portsPerBrowser));
  const count = Math.max(1, Math.ceil(browsers / browsersPerAddress));
  return { addresses: Array.from({ length: count }, (_, i) => loopbackAddress(i)), browsersPerAddress };
}

/** The source address of browser `index` (0-based) under `plan`. */
export function sourceOf(plan: SourcePlan, index: number): string | undefined {
  return plan.addresses[Math.min(plan.addresses.length - 1, Math.floor(index / plan.browsersPerAddress))];
}

/**
 * The kernel's count of established TCP connections to local `port`, by remote address: the
 * server's own view of where its sockets come from (IPv4 only, as the layouts listen on 127.0.0.1).
 */
export function peersOf(port: number): Map<string, number> {
  const peers = new Map<string, number>();
  const ESTABLISHED = '01';
  const wanted = port.toString(16).toUpperCase().padStart(4, '0');
  const text = readFileSync('/proc/net/tcp', 'utf8');
  for (const line of text.split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    const [local, remote, state] = [fields[1], fields[2], fields[3]];
    if (!local || !remote || state !== ESTABLISHED || !local.endsWith(`:${wanted}`)) continue;
    const address = ipv4(remote.split(':')[0] ?? '');
    peers.set(address, (peers.get(address) ?? 0) + 1);
  }
  return peers;
}

/** /proc/net/tcp writes an address as the little-endian hex of its 4 bytes. */
function ipv4(hex: string): string {
  const bytes = [0, 2, 4, 6].map((i) => Number.parseInt(hex.slice(i, i + 2), 16));
  return bytes.reverse().join('.');
}
