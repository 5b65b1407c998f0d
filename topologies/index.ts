import type { TopologyName } from '../src/config.js';
import type { Topology } from '../src/topology.js';
import { clusterFork } from './cluster-fork.js';
import { dedicatedLongpoll } from './dedicated-longpoll.js';
import { singleProcess } from './single-process.js';
import { workerThreads } from './worker-threads.js';

export const topologies: Record<TopologyName, Topology> = {
  'single-process': singleProcess,
  'worker-threads': workerThreads,
  'cluster-fork': clusterFork,
  'dedicated-longpoll': dedicatedLongpoll,
};
