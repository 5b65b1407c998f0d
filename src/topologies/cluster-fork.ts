// node:cluster primary + N forked workers, each serving every endpoint with its own pool
// and its own LISTEN connection. Odoo's prefork workers refuse the bus ("bus.Bus
// unavailable"); the kit lets them poll, to show what that costs.

import { freePort, origin } from '../lib/net.js';
import { httpWorkers, startCluster } from './cluster/primary.js';
import { budget, type Topology } from './topology.js';

export const clusterFork: Topology = {
  name: 'cluster-fork',
  description: 'a primary and N forked workers; each serves every endpoint with its own pool and LISTEN connection',
  budget: (config) => budget(config.workers, 'workers', config.poolSize, config.workers),
  async start(config) {
    // Resolved here so every worker shares one port (the primary accepts, round-robin).
    const port = config.port || (await freePort(config.host));
    const running = await startCluster({ ...config, port }, httpWorkers(config.workers, 'all', port));
    return { url: origin(config.host, port), busUrl: null, close: () => running.close() };
  },
};
