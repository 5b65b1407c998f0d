// Odoo's production layout: N forked workers serve everything but the bus; one separate
// event-loop process serves /bus/* with one pool and one LISTEN connection (the gevent
// process on port 8072). Node has no path routing across processes, so the bus process has
// its own port, announced by GET /config as bus_url. The cost of that choice: a second
// origin, so browsers send a CORS preflight before each poll's first POST and keep a
// separate 6-connection budget for it. docker-compose puts nginx in front instead.

import { freePort, origin } from '../lib/net.js';
import { httpWorkers, startCluster, type WorkerSpec } from './cluster/primary.js';
import type { Topology } from './topology.js';

export const dedicatedLongpoll: Topology = {
  name: 'dedicated-longpoll',
  description: 'N forked workers for the app and one event-loop process for /bus/* on its own port',
  budget: (config) => {
    const pools = config.workers + 1;
    const total = pools * config.poolSize + 1;
    return {
      pools,
      poolSize: config.poolSize,
      listen: 1,
      total,
      summary: `(${config.workers} workers + 1 bus process) x ${config.poolSize} pool + 1 LISTEN = ${total}`,
    };
  },
  async start(config) {
    const port = config.port || (await freePort(config.host));
    const busPort = config.busPort || (await freePort(config.host));
    const bus: WorkerSpec = {
      serves: 'bus',
      role: 'bus',
      index: 0,
      processName: 'bus',
      port: busPort,
      exclusive: true,
    };
    const workers = httpWorkers(config.workers, 'app', port);
    const running = await startCluster({ ...config, port, busPort }, [...workers, bus]);
    return { url: origin(config.host, port), busUrl: origin(config.host, busPort), close: () => running.close() };
  },
};
