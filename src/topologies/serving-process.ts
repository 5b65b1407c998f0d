// A process that accepts HTTP and runs the App itself (single-process, forked workers): the
// app stack behind its own HTTP front on its own port, closed gracefully but within a bound.
import { setTimeout as sleep } from 'node:timers/promises';
import { createHttpServer } from '../app/http-server.js';
import type { Metrics } from '../app/metrics.js';
import { type AppStack, createAppStack, type StackOptions } from '../app/stack.js';
import { createWebSocketEndpoint } from '../app/websocket.js';

export interface ServingProcess {
  port: number;
  stack: AppStack;
  close(): Promise<void>;
}

export async function startServingProcess(
  options: Omit<StackOptions, 'notifications' | 'defaultMetrics'> & {
    port: number;
    /** Forked workers bind their own socket instead of sharing the primary's (the bus process). */
    exclusive?: boolean;
    /** Behind dedicated-longpoll's front, which counts the client sockets itself. */
    socketsFrom?: 'clients' | 'front';
    layoutMetrics: (local: Metrics) => Promise<string>;
  },
): Promise<ServingProcess> {
  const stack = await createAppStack({ ...options, notifications: 'listen', defaultMetrics: true });
  const { bus } = stack;
  // Only a process with a bus holds websockets (dedicated-longpoll's bus process, not its workers).
  const websocket = bus
    ? createWebSocketEndpoint({
        host: { call: (c) => stack.app.socketCall(c), bus },
        metrics: stack.metrics,
        pingIntervalMs: options.config.wsPingInterval * 1000,
      })
    : undefined;
  const http = createHttpServer({
    config: options.config,
    metrics: stack.metrics,
    handle: (req, hungUp) => stack.app.handle(req, hungUp),
    layoutMetrics: () => options.layoutMetrics(stack.metrics),
    socketsFrom: options.socketsFrom,
    websocket,
  });
  const port = await http.listen(options.port, options.config.host, options.exclusive);
  return {
    port,
    stack,
    async close() {
      const closed = http.close();
      stack.stopPolls();
      // A request still running after 10 s (a slow transaction) must not keep the process.
      await Promise.race([closed, sleep(10_000).then(() => http.server.closeAllConnections())]);
      await stack.close();
    },
  };
}
