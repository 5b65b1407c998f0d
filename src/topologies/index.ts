import type { TopologyName } from '../lib/server-options.js';
import { clusterFork } from './cluster-fork.js';
import { dedicatedLongpoll } from './dedicated-longpoll.js';
import { singleProcess } from './single-process.js';
import type { Topology } from './topology.js';
import { workerThreads } from './worker-threads.js';

export const topologies: Record<TopologyName, Topology> = {
  'single-process': singleProcess,
  'worker-threads': workerThreads,
  'cluster-fork': clusterFork,
  'dedicated-longpoll': dedicatedLongpoll,
};
