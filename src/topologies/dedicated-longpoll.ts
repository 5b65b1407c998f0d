// Odoo's production layout: N forked workers serve everything but the bus; one separate
// event-loop process serves /bus/* with one pool and one LISTEN connection (the gevent
// process on port 8072). Odoo's documented deployment puts a proxy in front that routes the
// bus path to that process on the app's own origin; by default (--bus-origin same) the kit
// does the same with a front in the cluster primary (front.ts), so a browser has one budget
// of 6 connections for pages and polls, as with every other layout. --bus-origin separate
// announces the bus process's port as bus_url instead: a second origin with 6 more
// connections and a CORS preflight, a different deployment the report names as such.

import { freePort, origin } from '../lib/net.js';
import { httpWorkers, startCluster, type WorkerSpec } from './cluster/primary.js';
import { startFront } from './front.js';
import type { Topology } from './topology.js';

export const dedicatedLongpoll: Topology = {
  name: 'dedicated-longpoll',
  description:
    'N forked workers for the app and one event-loop process for /bus/*, behind one front on the same origin (or the bus on its own port)',
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
    const fronted = config.busOrigin === 'same';
    const bus: WorkerSpec = {
      serves: 'bus',
      role: 'bus',
      index: 0,
      processName: 'bus',
      port: busPort,
      exclusive: true,
      socketsFrom: fronted ? 'front' : 'clients',
    };
    if (!fronted) {
      const running = await startCluster({ ...config, port, busPort }, [
        ...httpWorkers(config.workers, 'app', port),
        bus,
      ]);
      return { url: origin(config.host, port), busUrl: origin(config.host, busPort), close: () => running.close() };
    }
    // Behind the front each worker has a port of its own, so the front can hand out requests
    // in turn, as nginx does with Odoo's workers; clients only ever see `port`.
    const workers = await Promise.all(
      httpWorkers(config.workers, 'app', 0, 'front').map(async (w) => ({
        ...w,
        port: await freePort(config.host),
        exclusive: true,
      })),
    );
    const running = await startCluster({ ...config, port, busPort }, [...workers, bus], 'front');
    const front = await startFront({
      host: config.host,
      port,
      app: workers.map((w) => origin(config.host, w.port)),
      bus: origin(config.host, busPort),
      pollTimeoutMs: config.pollTimeout * 1000,
      metrics: running.metrics,
    }).catch(async (err: Error) => {
      await running.close();
      throw err;
    });
    return {
      url: origin(config.host, front.port),
      busUrl: null,
      async close() {
        // New requests are refused at once; the parked polls the workers answer as they stop
        // still reach their clients through the front.
        front.stopAccepting();
        await running.close();
        await front.close();
      },
    };
  },
};
