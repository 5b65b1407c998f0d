// One process, one event loop, every endpoint: Odoo's gevent server on its own. Node's
// event loop is the evented model, so parked polls cost a socket and a closure each.
import { origin } from '../lib/net.js';
import { startServingProcess } from './serving-process.js';
import { budget, type Topology } from './topology.js';

export const singleProcess: Topology = {
  name: 'single-process',
  description: 'one process and event loop serving every endpoint, with one pool and one LISTEN connection',
  budget: (config) => budget(1, 'process', config.poolSize, 1),
  async start(config) {
    const served = await startServingProcess({
      config,
      serves: 'all',
      role: 'http',
      index: 0,
      processName: 'main',
      port: config.port,
      layoutMetrics: (local) => local.registry.metrics(),
    });
    return { url: origin(config.host, served.port), busUrl: null, close: () => served.close() };
  },
};
