// The shape of a run: what `busbench bench` writes to results/<timestamp>/run.json and what
// `busbench report` and `busbench compare` read back. bench/run-schema.json is the same
// contract as JSON Schema (the tests validate every run.json against it); change both.

/** Latencies in milliseconds, from an HdrHistogram. null when nothing was recorded. */
export interface Percentiles {
  count: number;
  mean: number | null;
  p50: number | null;
  p90: number | null;
  p99: number | null;
  p999: number | null;
  max: number | null;
}

/** One second of one case. Counters are per-second deltas; gauges are the value sampled. */
export interface Sample {
  /** Seconds since the measurement began (negative during warm-up). */
  t: number;
  phase: 'warmup' | 'measure' | 'drain';
  tabs: number;
  /** Client HTTP connections open at the sample, and opened during the second. */
  http_open: number;
  http_opened: number;
  /** Requests waiting in the simulated browsers' connection pools (the 7th tab's poll). */
  queued_requests: number;
  requests: number;
  errors: number;
  deliveries: number;
  delivery_p99_ms: number | null;
  server_open_sockets: number;
  parked_polls: number;
  db_connections: number;
  db_connections_by_app: Record<string, number>;
  commits: number;
  serialization_failures: number;
  retries: number;
  final_failures: number;
  /** Per serving process (the `process` label of /metrics). */
  cpu_percent: Record<string, number>;
  rss_bytes: Record<string, number>;
  event_loop_lag_ms: Record<string, number>;
}

export interface EndpointTx {
  attempts: number;
  commits: number;
  serialization_failures: number;
  deadlocks: number;
  lock_not_available: number;
  retries: number;
  final_failures: number;
}

export interface ProcessFigures {
  process: string;
  peak_open_sockets: number;
  peak_parked_polls: number;
  cpu_seconds: number;
  /** CPU seconds over measured seconds, x100 (200 = two cores busy). */
  cpu_percent: number;
  peak_rss_bytes: number;
  peak_event_loop_lag_ms: number;
}

export interface CaseTotals {
  client: {
    tabs: number;
    browsers: number;
    http_connections_opened: number;
    http_connections_peak: number;
    /** Most connections one simulated browser held at once (capped by connections per origin). */
    http_connections_peak_per_browser: number;
    queued_requests_peak: number;
    /** endpoint -> status (or "error" for no answer) -> count, measure phase only. */
    requests: Record<string, Record<string, number>>;
    poll_latency_ms: Percentiles;
    /** From the post's due time (open model), not from when it was sent. */
    post_latency_ms: Percentiles;
    /** Posts sent later than due by more than the tolerance; max lag in ms. */
    behind_schedule: { late_posts: number; max_lag_ms: number };
  };
  delivery: {
    posts: number;
    posts_failed: number;
    expected: number;
    delivered: number;
    /** Missing although a later poll of the tab was answered: the tab's cursor passed it. */
    lost: number;
    /** Missing when the run ended, with no answered poll since the post: late, not provably lost. */
    pending: number;
    duplicated: number;
    out_of_order: number;
    /** From the post's due time to its arrival in a tab. */
    latency_ms: Percentiles;
  };
  server: {
    peak_open_sockets: number;
    peak_parked_polls: number;
    processes: ProcessFigures[];
  };
  database: {
    connections_by_app: { application_name: string; peak: number; mean: number }[];
    peak_connections: number;
    mean_connections: number;
    commits: number;
    rollbacks: number;
    deadlocks: number;
    /** Counted by the app: PostgreSQL has no counter of serialization failures. */
    app: { total: EndpointTx; by_endpoint: Record<string, EndpointTx> };
  };
  derived: {
    /** Failed attempts (40001, 40P01, 55P03) per 1,000 committed transactions. */
    failures_per_1000_tx: number;
    final_failures_per_1000_tx: number;
    db_connections_per_1000_tabs: number;
    http_connections_per_tab: number;
    requests_per_second: number;
  };
}

export interface CaseResult {
  /** e.g. "cluster-fork presence=upsert": the layout plus whatever the sweep varied. */
  id: string;
  topology: string;
  presence: string;
  isolation: string;
  dispatch: string;
  /** The exact server configuration (database URL redacted). */
  server_config: Record<string, unknown>;
  started_at: string;
  measured_seconds: number;
  totals: CaseTotals;
  timeseries: Sample[];
  /** Things the reader must know (fell behind schedule, lost messages, server errors). */
  warnings: string[];
}

/**
 * One case in one tab mode, measured with the chat page in real tabs of headless Chromium
 * (`busbench bench --browser`). Polls and sockets are the server's view after the tabs settled;
 * presence writes and 40001s cover the window from then until every post was delivered.
 */
export interface BrowserResult {
  /** The case id plus the mode, e.g. "cluster-fork leader". */
  id: string;
  topology: string;
  mode: 'every-tab' | 'leader' | 'shared-worker';
  /** The exact server configuration (database URL redacted). */
  server_config: Record<string, unknown>;
  browsers: number;
  tabs_per_browser: number;
  /** From opening the first tab until every tab was ready. */
  ready_ms: number;
  /** Polls the tabs had started and not seen answered, summed: on the wire or queued in the browser. */
  polls_in_flight: number;
  parked_polls: number;
  parked_polls_per_browser: number;
  /** Client connections the layout held, the bench's own /metrics connection left out. */
  open_sockets: number;
  sockets_per_browser: number;
  window_seconds: number;
  /** Committed presence transactions (presence.* endpoints) in the window. */
  presence_writes: number;
  serialization_failures: number;
  /** Posts sent by tabs, the one after the tab closed included; posts_failed of them were not 201. */
  posts: number;
  posts_failed: number;
  /** (post, open tab) pairs for the posts that got 201. */
  expected: number;
  delivered: number;
  lost: number;
  /** Arrivals of a message in a tab beyond the first. */
  duplicated: number;
  /** From the first post until every tab showed every post; null if some never did. */
  delivery_ms: number | null;
  /**
   * From closing one tab per browser (the leader, in leader mode) until every remaining tab showed
   * a post sent right after; null with one tab per browser or when some tab never showed it.
   */
  handover_ms: number | null;
  warnings: string[];
}

export interface RunFile {
  schema: 'busbench/run@1';
  engine: 'node' | 'k6';
  started_at: string;
  finished_at: string;
  command: string;
  machine: { cpus: number; cpu_model: string; memory_bytes: number; platform: string; node: string };
  /** The resolved load profile (loadtests/lib/profiles.js plus flags). */
  profile: Record<string, unknown> & { name: string };
  /** What the sweep varied, e.g. { topology: [...], presence: ['every-poll', 'upsert'] }. */
  sweep: Record<string, string[]>;
  /** Empty when the run measured real browsers instead of the simulated load. */
  cases: CaseResult[];
  /** Written by `busbench bench --browser`. */
  browser?: BrowserResult[];
}
