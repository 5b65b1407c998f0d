// What a layout is: a way to arrange processes and threads around the one App, and the
// database connections that arrangement costs.
import type { Config, TopologyName } from '../lib/server-options.js';

export interface ConnectionBudget {
  /** Pools: how many processes or threads hold one, and its size. */
  pools: number;
  poolSize: number;
  /** Dedicated LISTEN connections. */
  listen: number;
  total: number;
  /** One line for the start-up log, e.g. "2 workers x 10 pool + 2 LISTEN = 22". */
  summary: string;
}

export interface RunningLayout {
  /** Where clients send everything (and /bus/* too unless busUrl is set). */
  url: string;
  /** dedicated-longpoll: where /bus/* is served; GET /config announces it to clients. */
  busUrl: string | null;
  close(): Promise<void>;
}

export interface Topology {
  name: TopologyName;
  description: string;
  budget(config: Config): ConnectionBudget;
  start(config: Config): Promise<RunningLayout>;
}

export function budget(pools: number, what: string, poolSize: number, listen: number): ConnectionBudget {
  const total = pools * poolSize + listen;
  return {
    pools,
    poolSize,
    listen,
    total,
    summary: `${pools} ${what} x ${poolSize} pool + ${listen} LISTEN = ${total}`,
  };
}
