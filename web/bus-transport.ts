// Which transport hears the bus (`?transport=`): long polls or one websocket. The tab modes
// decide who runs it and how it is shared; this is the only place the two differ.
import { BusClient, type BusClientOptions, type BusConnection } from './bus-client.js';
import { BusSocket } from './bus-socket.js';
import type { TabTransportName } from './tab-state.js';

export function connectBus(transport: TabTransportName, options: BusClientOptions): BusConnection {
  return transport === 'websocket' ? new BusSocket(options) : new BusClient(options);
}
