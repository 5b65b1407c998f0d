// A tab's side of the shared-worker mode: it hands the worker its session and channels and
// applies what the worker fans out. It never polls or opens a socket itself.
import { SHARED_WORKER_URL, type TabToWorker, type WorkerToTab } from './shared-worker-protocol.js';
import type { TabMode, TabModeDeps } from './tab-mode.js';

export class SharedWorkerTab implements TabMode {
  readonly isLeader = false;
  readonly leaderSince = null;
  readonly pollsInFlight = 0;
  readonly #deps: TabModeDeps;
  #port: MessagePort | undefined;
  readonly #onPageHide = (event: PageTransitionEvent) => {
    // A page kept in the back-forward cache may come back and still needs its port.
    if (!event.persisted) this.stop();
  };

  constructor(deps: TabModeDeps) {
    this.#deps = deps;
  }

  start(): Promise<void> {
    const { api, busUrl, transport, userId, channels, pollTimeout, inbox, deliver } = this.#deps;
    const port = new SharedWorker(SHARED_WORKER_URL, { name: 'busbench-bus' }).port;
    this.#port = port;
    addEventListener('pagehide', this.#onPageHide);
    return new Promise((connected) => {
      port.onmessage = (event: MessageEvent<WorkerToTab>) => {
        const message = event.data;
        if (message.type === 'welcome') {
          inbox.skipTo(message.last);
          connected();
          return;
        }
        const fresh = inbox.accept(message.notifications);
        if (fresh.length > 0) deliver(fresh);
      };
      port.start();
      this.#tell({ type: 'hello', userId, token: api.token, channels: [...channels], busUrl, transport, pollTimeout });
    });
  }

  stop(): void {
    removeEventListener('pagehide', this.#onPageHide);
    this.#tell({ type: 'bye' });
    this.#port?.close();
    this.#port = undefined;
  }

  #tell(message: TabToWorker): void {
    this.#port?.postMessage(message);
  }
}
