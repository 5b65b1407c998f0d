// One Metrics object per serving process or thread. Counters carry no `process` label, so
// aggregating a layout sums them into one figure per endpoint; gauges that only make sense
// per process (sockets, parked polls, pool use) carry `process`, so they stay apart.
import client from 'prom-client';
import type { TopologyName } from '../lib/server-options.js';
import { RETRYABLE_SQLSTATES } from './sqlstates.js';

/**
 * The names units of work count under (Database.transaction's first argument). Their series
 * start at 0, so a dashboard shows "no failures yet" instead of "no data".
 */
export const TX_ENDPOINTS = ['session.login', 'chat.post', 'chat.members', 'presence.poll', 'presence.set'];

export type MetricsJson = Awaited<ReturnType<client.Registry['getMetricsAsJSON']>>;

export class Metrics {
  readonly registry = new client.Registry();
  readonly process: string;

  readonly httpRequests: client.Counter<'endpoint' | 'status'>;
  readonly httpDuration: client.Histogram<'endpoint'>;
  readonly openSockets: client.Gauge<'process'>;
  readonly socketsOpened: client.Counter<'process'>;
  /** dedicated-longpoll behind its front: the front's connections to this process, which are not clients'. */
  readonly frontSockets: client.Gauge<'process'>;
  readonly queuedRequests: client.Gauge<'process'>;

  readonly txAttempts: client.Counter<'endpoint'>;
  readonly txCommits: client.Counter<'endpoint'>;
  readonly txFailures: client.Counter<'endpoint' | 'sqlstate'>;
  readonly txRetries: client.Counter<'endpoint'>;
  readonly txRetried: client.Counter<'endpoint'>;
  readonly txFinalFailures: client.Counter<'endpoint' | 'sqlstate'>;
  readonly txFailureMessages: client.Counter<'sqlstate' | 'message'>;

  readonly parkedPolls: client.Gauge<'process'>;
  readonly busWakeups: client.Counter<'dispatch'>;
  readonly busFetches: client.Counter<'dispatch' | 'reason'>;
  readonly busWaitersWoken: client.Counter<'dispatch'>;
  readonly busEmptyWakeups: client.Counter<'dispatch'>;
  readonly busFanout: client.Histogram<'dispatch'>;
  readonly busFanoutCpu: client.Counter<'dispatch'>;
  readonly listenReconnects: client.Counter<'process'>;

  readonly cacheChecks: client.Counter;
  readonly cacheInvalidations: client.Counter;

  readonly workerRestarts: client.Counter;

  readonly wsOpenSockets: client.Gauge<'process'>;
  readonly wsFrames: client.Counter<'direction'>;
  readonly wsSubscriptions: client.Counter;
  readonly wsPings: client.Counter;
  readonly wsCloses: client.Counter<'code'>;

  constructor(topology: TopologyName, processName: string, options: { defaultMetrics?: boolean } = {}) {
    this.process = processName;
    this.registry.setDefaultLabels({ topology });
    if (options.defaultMetrics) {
      // process_* and nodejs_* describe the whole OS process, so only one thread per process
      // collects them; the `process` label keeps forked processes apart after aggregation.
      client.collectDefaultMetrics({ register: this.registry, labels: { process: processName } });
    }
    const registers = [this.registry];
    const counter = <L extends string>(name: string, help: string, labelNames: L[] = []) =>
      new client.Counter<L>({ name, help, labelNames, registers });
    const gauge = (name: string, help: string) =>
      new client.Gauge<'process'>({ name, help, labelNames: ['process'], registers });

    this.httpRequests = counter('busbench_http_requests_total', 'HTTP requests answered', ['endpoint', 'status']);
    this.httpDuration = new client.Histogram({
      name: 'busbench_http_request_duration_seconds',
      help: 'Time from request end to response, parked polls included',
      labelNames: ['endpoint'],
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60],
      registers,
    });
    this.openSockets = gauge('busbench_http_open_sockets', 'Open client TCP connections');
    this.socketsOpened = counter('busbench_http_sockets_opened_total', 'Client TCP connections accepted', ['process']);
    this.frontSockets = gauge(
      'busbench_http_front_open_sockets',
      "Open TCP connections from dedicated-longpoll's front (client connections are counted at the front)",
    );
    this.queuedRequests = gauge('busbench_queued_requests', 'worker-threads: requests waiting for a free thread');

    this.txAttempts = counter('busbench_tx_attempts_total', 'Transaction attempts (first tries and retries)', [
      'endpoint',
    ]);
    this.txCommits = counter('busbench_tx_commits_total', 'Transactions committed', ['endpoint']);
    this.txFailures = counter('busbench_tx_failures_total', 'Failed attempts by SQLSTATE (40001 = serialization)', [
      'endpoint',
      'sqlstate',
    ]);
    this.txRetries = counter(
      'busbench_tx_retries_total',
      'Attempts retried after a conflict (40001/40P01/55P03) or a connection lost before COMMIT',
      ['endpoint'],
    );
    this.txRetried = counter(
      'busbench_tx_retried_total',
      "Units of work retried at least once, counted at their first retry (pgbench's transactions retried)",
      ['endpoint'],
    );
    this.txFinalFailures = counter(
      'busbench_tx_final_failures_total',
      'Units of work that ended without commit after their last try',
      ['endpoint', 'sqlstate'],
    );
    // PostgreSQL's own words for each failure ("could not serialize access due to concurrent
    // update" or "... due to read/write dependencies among transactions" under one 40001): only
    // retryable SQLSTATEs are counted, whose messages are a handful of fixed texts, so the label
    // stays small.
    this.txFailureMessages = counter(
      'busbench_tx_failure_messages_total',
      "Failed attempts by retryable SQLSTATE and PostgreSQL's message text",
      ['sqlstate', 'message'],
    );

    this.parkedPolls = gauge('busbench_bus_parked_polls', 'Polls waiting for a notification');
    this.busWakeups = counter('busbench_bus_wakeups_total', 'Notifications that woke at least one parked poll', [
      'dispatch',
    ]);
    this.busFetches = counter('busbench_bus_fetch_queries_total', 'Queries on bus_notifications', [
      'dispatch',
      'reason',
    ]);
    this.busWaitersWoken = counter('busbench_bus_waiters_woken_total', 'Parked polls woken by notifications', [
      'dispatch',
    ]);
    this.busEmptyWakeups = counter(
      'busbench_bus_empty_wakeups_total',
      'Woken parked polls whose fetch found nothing for them (seed 002: NOTIFY before the row was visible)',
      ['dispatch'],
    );
    this.busFanout = new client.Histogram({
      name: 'busbench_bus_fanout_seconds',
      help: "Shared dispatch: from a shared fetch's rows to the last woken waiter's answer written to its socket",
      labelNames: ['dispatch'],
      buckets: [0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
    this.busFanoutCpu = counter(
      'busbench_bus_fanout_cpu_seconds_total',
      "CPU the process used over those fan-outs (all its threads): the fan-out's cost, whatever else ran on the machine",
      ['dispatch'],
    );
    this.listenReconnects = counter(
      'busbench_bus_listen_reconnects_total',
      'Times the LISTEN connection was lost and opened again',
      ['process'],
    );

    this.cacheChecks = counter('busbench_cache_checks_total', 'Reads of the cache-signaling sequence');
    this.cacheInvalidations = counter('busbench_cache_invalidations_total', 'Membership caches cleared by signaling');

    this.workerRestarts = counter('busbench_worker_restarts_total', 'Crashed worker processes restarted');

    this.wsOpenSockets = gauge('busbench_ws_open_sockets', 'Open websockets (upgraded connections on /websocket)');
    this.wsFrames = counter('busbench_ws_frames_total', 'Websocket data frames, in (from clients) or out', [
      'direction',
    ]);
    this.wsSubscriptions = counter('busbench_ws_subscriptions_total', 'Websocket subscribe frames that took effect');
    this.wsPings = counter('busbench_ws_pings_total', 'Pings sent to websockets idle for --ws-ping-interval');
    this.wsCloses = counter('busbench_ws_closes_total', 'Websockets closed, by close code (1006: no close frame)', [
      'code',
    ]);
    for (const direction of ['in', 'out']) this.wsFrames.inc({ direction }, 0);
    this.wsSubscriptions.inc(0);
    this.wsPings.inc(0);
    this.wsOpenSockets.set({ process: processName }, 0);

    for (const endpoint of TX_ENDPOINTS) {
      for (const c of [this.txAttempts, this.txCommits, this.txRetries, this.txRetried]) c.inc({ endpoint }, 0);
      for (const sqlstate of RETRYABLE_SQLSTATES) {
        this.txFailures.inc({ endpoint, sqlstate }, 0);
        this.txFinalFailures.inc({ endpoint, sqlstate }, 0);
      }
    }
    for (const g of [this.openSockets, this.queuedRequests, this.parkedPolls]) g.set({ process: processName }, 0);
  }
}

/** One exposition for a whole layout: sums counters across processes and threads. */
export async function aggregateMetrics(parts: MetricsJson[]): Promise<string> {
  return client.AggregatorRegistry.aggregate(parts).metrics();
}

export const METRICS_CONTENT_TYPE = client.Registry.PROMETHEUS_CONTENT_TYPE;
