// The shape of a run: what `busbench bench` writes to results/<timestamp>/run.json and what
// `busbench report` and `busbench compare` read back. Defined once, as TypeBox schemas: they
// are plain JSON Schema (run-file.ts checks every run.json against RUN_SCHEMA with ajv), and
// the TypeScript types are derived from them, so the two cannot drift apart.
import {
  type ObjectOptions,
  type SchemaOptions,
  type Static,
  type TProperties,
  type TSchema,
  Type,
} from '@sinclair/typebox';
import { BUS_TRANSPORTS } from '../../loadtests/lib/ws-tab.js';
import { TAB_MODES, TAB_TRANSPORTS } from '../../web/tab-state.js';

/** Who generated the load: the built-in Node runner or k6. */
export const ENGINES = ['node', 'k6'] as const;

/** An object with exactly these properties: every object of the contract but the maps and the profile. */
function Closed<T extends TProperties>(properties: T, options?: ObjectOptions) {
  return Type.Object(properties, { ...options, additionalProperties: false });
}

// Type.Record would match keys against ^(.*)$, which skips any key holding a line break.
/** An object with free keys, every value matching `value`. */
function Dict<T extends TSchema>(value: T, options?: SchemaOptions) {
  return Type.Unsafe<Record<string, Static<T>>>({ ...options, type: 'object', additionalProperties: value });
}

// One `type` list rather than Type.Union's anyOf: ajv then reports one error per bad field, not three.
function NullableNumber(options?: SchemaOptions) {
  return Type.Unsafe<number | null>({ ...options, type: ['number', 'null'] });
}

// `enum` rather than Type.Union's anyOf of consts: run-file.ts reports a breach by listing the allowed values.
function OneOf<const T extends readonly string[]>(values: T, options?: SchemaOptions) {
  return Type.Unsafe<T[number]>({ ...options, enum: values });
}

const serverConfig = Type.Unsafe<Record<string, unknown>>({
  type: 'object',
  description: 'The exact server configuration (database URL redacted).',
});

/** Percentiles, with what the latency is measured from when the field name does not say. */
function Latencies(from?: string) {
  const what = 'Latencies in milliseconds, from an HdrHistogram. null when nothing was recorded.';
  return Closed(
    {
      count: Type.Number(),
      mean: NullableNumber(),
      p50: NullableNumber(),
      p90: NullableNumber(),
      p99: NullableNumber(),
      p999: NullableNumber(),
      max: NullableNumber(),
    },
    { description: from ? `${what} ${from}` : what },
  );
}
export type Percentiles = Static<ReturnType<typeof Latencies>>;

const perProcess = Dict(Type.Number(), { description: 'Per serving process (the `process` label of /metrics).' });

const RETRIED_TX = Type.Optional(
  Type.Number({
    description:
      'Units of work retried at least once, then committed or failed (pgbench\'s "number of transactions retried"), counted at their first retry. Absent in runs written before the kit counted them.',
  }),
);

const sample = Closed(
  {
    t: Type.Number({ description: 'Seconds since the measurement began (negative during warm-up).' }),
    phase: OneOf(['warmup', 'measure', 'drain']),
    tabs: Type.Number(),
    http_open: Type.Number({ description: 'Client HTTP connections open at the sample.' }),
    http_opened: Type.Number({ description: 'Client HTTP connections opened during the second.' }),
    queued_requests: Type.Number({
      description: "Requests waiting in the simulated browsers' connection pools (the 7th tab's poll).",
    }),
    requests: Type.Number(),
    errors: Type.Number(),
    deliveries: Type.Number(),
    delivery_p99_ms: NullableNumber(),
    server_open_sockets: Type.Number(),
    parked_polls: Type.Number(),
    server_open_websockets: Type.Optional(Type.Number({ description: 'Websockets the layout held open (/metrics).' })),
    db_connections: Type.Number(),
    db_connections_by_app: Dict(Type.Number()),
    commits: Type.Number(),
    serialization_failures: Type.Number(),
    retries: Type.Number(),
    retried: RETRIED_TX,
    final_failures: Type.Number(),
    cpu_percent: perProcess,
    rss_bytes: perProcess,
    event_loop_lag_ms: perProcess,
  },
  { description: 'One second of one case. Counters are per-second deltas; gauges are the value sampled.' },
);
export type Sample = Static<typeof sample>;

const endpointTx = Closed({
  attempts: Type.Number(),
  commits: Type.Number(),
  serialization_failures: Type.Number(),
  deadlocks: Type.Number(),
  lock_not_available: Type.Number(),
  retries: Type.Number(),
  retried: RETRIED_TX,
  final_failures: Type.Number(),
});
export type EndpointTx = Static<typeof endpointTx>;

const processFigures = Closed({
  process: Type.String(),
  peak_open_sockets: Type.Number(),
  peak_parked_polls: Type.Number(),
  cpu_seconds: Type.Number(),
  cpu_percent: Type.Number({ description: 'CPU seconds over measured seconds, x100 (200 = two cores busy).' }),
  peak_rss_bytes: Type.Number(),
  peak_event_loop_lag_ms: Type.Number(),
});
export type ProcessFigures = Static<typeof processFigures>;

const caseTotals = Closed({
  client: Closed({
    tabs: Type.Number(),
    browsers: Type.Number(),
    http_connections_opened: Type.Number(),
    http_connections_peak: Type.Number(),
    http_connections_peak_per_browser: Type.Number({
      description: 'Most connections one simulated browser held at once (capped by connections per origin).',
    }),
    queued_requests_peak: Type.Number(),
    requests: Dict(Dict(Type.Number()), {
      description: 'endpoint -> status (or "error" for no answer) -> count, measure phase only.',
    }),
    poll_latency_ms: Latencies(),
    post_latency_ms: Latencies("From the post's due time (open model), not from when it was sent."),
    queued_ms: Type.Optional(
      Latencies(
        "Time each request sent in the window waited for one of its browser's connections (0 when one was free): the queue behind a browser's 6 connections.",
      ),
    ),
    post_queued_ms: Type.Optional(
      Latencies('The same for chat posts only: how long a post waited behind parked polls.'),
    ),
    behind_schedule: Closed(
      { late_posts: Type.Number(), max_lag_ms: Type.Number() },
      { description: 'Posts sent later than due by more than the tolerance; max lag in ms.' },
    ),
    websockets_peak: Type.Optional(
      Type.Number({ description: 'Websocket transport: most websockets the simulated tabs held open at once.' }),
    ),
    websocket_closes: Type.Optional(
      Dict(Type.Number(), {
        description:
          "Websocket transport: close code -> sockets closed in the window by the server, the network, or the tab after an error frame (each then reconnected from its last id); the runner's own closes at the end left out.",
      }),
    ),
  }),
  delivery: Closed({
    posts: Type.Number(),
    posts_failed: Type.Number(),
    expected: Type.Number(),
    delivered: Type.Number(),
    lost: Type.Number({
      description: "Missing although a later poll of the tab was answered: the tab's cursor passed it.",
    }),
    pending: Type.Number({
      description: 'Missing when the run ended, with no answered poll since the post: late, not provably lost.',
    }),
    duplicated: Type.Number(),
    out_of_order: Type.Number(),
    latency_ms: Latencies("From the post's due time to its arrival in a tab."),
  }),
  server: Closed({
    peak_open_sockets: Type.Number(),
    peak_parked_polls: Type.Number(),
    peak_open_websockets: Type.Optional(
      Type.Number({ description: 'Most websockets the layout held open at once (busbench_ws_open_sockets).' }),
    ),
    mean_held_connections: Type.Optional(
      Type.Number({ description: 'Mean over the measured seconds of open websockets plus parked polls.' }),
    ),
    rss_growth_bytes: Type.Optional(
      NullableNumber({
        description:
          "Mean RSS of the layout's processes in the window minus their RSS before the first browser opened; null: not sampled.",
      }),
    ),
    processes: Type.Array(processFigures),
  }),
  database: Closed({
    connections_by_app: Type.Array(
      Closed({ application_name: Type.String(), peak: Type.Number(), mean: Type.Number() }),
    ),
    peak_connections: Type.Number(),
    mean_connections: Type.Number(),
    commits: Type.Number(),
    rollbacks: Type.Number(),
    deadlocks: Type.Number(),
    app: Closed(
      {
        total: endpointTx,
        by_endpoint: Dict(endpointTx),
        failure_messages: Type.Optional(
          Dict(Dict(Type.Number()), {
            description:
              "SQLSTATE -> PostgreSQL's message text -> failed attempts in the window, e.g. 40001's " +
              '"could not serialize access due to concurrent update"; only those that occurred.',
          }),
        ),
      },
      { description: 'Counted by the app: PostgreSQL has no counter of serialization failures.' },
    ),
  }),
  derived: Closed(
    {
      failures_per_1000_tx: NullableNumber({
        description: 'Failed attempts (40001, 40P01, 55P03) per 1,000 committed transactions.',
      }),
      final_failures_per_1000_tx: NullableNumber(),
      db_connections_per_1000_tabs: NullableNumber(),
      http_connections_per_tab: NullableNumber(),
      requests_per_second: NullableNumber(),
      server_sockets_per_1000_tabs: Type.Optional(
        NullableNumber({
          description: "The layout's peak client TCP connections (websockets included, /metrics) per 1,000 tabs.",
        }),
      ),
      websockets_per_1000_tabs: Type.Optional(
        NullableNumber({ description: "The layout's peak open websockets per 1,000 tabs." }),
      ),
      rss_bytes_per_connection: Type.Optional(
        NullableNumber({
          description:
            'Memory per held connection: rss_growth_bytes over mean_held_connections (open websockets, or parked polls with long polling); null under 1,000 held connections (MIN_HELD_FOR_MEMORY: the growth is then the heap warming up) or when the growth was not positive.',
        }),
      ),
    },
    { description: 'null where the denominator is 0 (nothing committed, no tab, nothing measured): no rate, not 0.' },
  ),
});
export type CaseTotals = Static<typeof caseTotals>;

const faultRecord = Closed(
  {
    kind: Type.String({ description: 'listen-drop, backend-kill, worker-kill or pg-restart.' }),
    at_s: Type.Number({ description: 'Seconds into the measured window.' }),
    applied: Type.Boolean({ description: 'false where the fault does not apply to the layout (detail says why).' }),
    detail: Type.String(),
    window_s: Type.Number({ description: 'Seconds from this fault to the next one or the end of the measurement.' }),
    errors: Dict(Type.Number(), {
      description: 'Client-visible failures in the window by "status code" (status 0: "no answer").',
    }),
    recovery_ms: Closed({
      first_poll: NullableNumber({
        description: 'Fault to the first 200 of a poll sent after it; null: none in the window.',
      }),
      first_post: NullableNumber({ description: 'Fault to the first 201 of a post sent after it.' }),
      error_rate: NullableNumber({
        description:
          'Fault to the end of the last 250 ms with more failures than twice the pre-fault rate; 0: none; null: still failing at the end of the window.',
      }),
    }),
    restarts: NullableNumber({
      description:
        'busbench_worker_restarts_total growth over the window (processes or threads); null: /metrics did not answer.',
    }),
    db_connections: Closed(
      { before: NullableNumber(), peak: NullableNumber(), end: NullableNumber() },
      { description: "The layout's connections to the case database before the fault and during its window." },
    ),
    delivery: Closed(
      {
        posts: Type.Number({ description: 'Posts acknowledged (201) that were due in the window.' }),
        lost: Type.Number({
          description: 'Of their (post, tab) deliveries, missing although the tab polled after the acknowledgement.',
        }),
        pending: Type.Number({ description: 'Missing when the drain ended, with no such poll: late, not lost.' }),
        duplicated: Type.Number({ description: 'Arrivals beyond the first that reached a tab in the window.' }),
      },
      { description: "The delivery check of the posts due in this fault's window: the case's totals split by fault." },
    ),
  },
  { description: 'One fault of `busbench bench --faults` and what it cost.' },
);
export type FaultRecord = Static<typeof faultRecord>;
const generatorFigures = Closed(
  {
    process: Type.String({ description: 'node: the bench process (runner and sampler); k6: the k6 process.' }),
    window: OneOf(['measure', 'run'], {
      description: "measure: the measured window; run: the k6 process's whole life (warm-up and drain included).",
    }),
    cores: Type.Number({
      description: 'Cores the generator can keep busy: 1 for the Node runner (one event loop), every core for k6.',
    }),
    cpu_percent: NullableNumber({
      description: 'CPU seconds of the generator over wall seconds, x100 (100 = one core busy). null: not measurable.',
    }),
    event_loop_lag_p99_ms: NullableNumber({ description: "The Node runner's event-loop delay, p99; null for k6." }),
    event_loop_lag_max_ms: NullableNumber(),
  },
  { description: "The load generator's own load: a saturated generator measures itself, not the layout." },
);
export type GeneratorFigures = Static<typeof generatorFigures>;

const validity = Closed(
  {
    valid: Type.Boolean(),
    reasons: Type.Array(Type.String(), { description: 'Why the case is invalid; empty when it is valid.' }),
  },
  {
    description:
      'Checked before any comparison (src/bench/validity.ts): an invalid case did no work or its generator was ' +
      'saturated; its derived rates are null and the verdict and the tables leave it out.',
  },
);
export type Validity = Static<typeof validity>;

const loadRecord = Closed(
  {
    users: Type.Number(),
    browsers_per_user: Type.Number(),
    tabs_per_browser: Type.Number(),
    tabs: Type.Number({ description: 'users x browsers per user x tabs per browser: the tabs the case asks for.' }),
  },
  { description: 'The load a case offers its layout (`--users`, `--browsers`, `--tabs`).' },
);
export type LoadRecord = Static<typeof loadRecord>;

const caseResult = Closed({
  id: Type.String({
    description: 'e.g. "cluster-fork presence=upsert": the layout plus whatever the sweep varied.',
  }),
  topology: Type.String(),
  presence: Type.String(),
  isolation: Type.String(),
  dispatch: Type.String(),
  transport: Type.Optional(
    OneOf(BUS_TRANSPORTS, {
      description: 'How the tabs heard the bus; absent in runs before the websocket transport (longpoll).',
    }),
  ),
  server_config: serverConfig,
  started_at: Type.String(),
  measured_seconds: Type.Number(),
  totals: caseTotals,
  timeseries: Type.Array(sample),
  warnings: Type.Array(Type.String(), {
    description: 'Things the reader must know (fell behind schedule, lost messages, server errors).',
  }),
  faults: Type.Optional(
    Type.Array(faultRecord, {
      description: "`--faults`: each injected fault; the case's delivery totals are what all of them lost.",
    }),
  ),
  // Optional: k6's handleSummary writes a case without them (the bench adds them) and older runs lack them.
  generator: Type.Optional(generatorFigures),
  validity: Type.Optional(validity),
  // Optional: runs written before load was an axis lack it; their load is the run's profile.
  load: Type.Optional(loadRecord),
});
export type CaseResult = Static<typeof caseResult>;

const browserResult = Closed(
  {
    id: Type.String({
      description:
        'The case id plus the mode, e.g. "cluster-fork leader" or "cluster-fork transport=websocket shared-worker".',
    }),
    topology: Type.String(),
    mode: OneOf(TAB_MODES),
    transport: Type.Optional(
      OneOf(TAB_TRANSPORTS, {
        description:
          "The page's ?transport= (`--transport`): how the tabs, the leader or the shared worker heard the bus; absent in runs before the page had websockets (longpoll).",
      }),
    ),
    server_config: serverConfig,
    browsers: Type.Number(),
    tabs_per_browser: Type.Number(),
    ready_ms: Type.Number({ description: 'From opening the first tab until every tab was ready.' }),
    polls_in_flight: Type.Number({
      description: 'Polls the tabs had started and not seen answered, summed: on the wire or queued in the browser.',
    }),
    parked_polls: Type.Number(),
    parked_polls_per_browser: Type.Number(),
    open_sockets: Type.Number({
      description: "Client connections the layout held, the bench's own /metrics connection left out.",
    }),
    sockets_per_browser: Type.Number(),
    open_websockets: Type.Optional(
      Type.Number({
        description:
          'Of the open sockets, websockets on /websocket (busbench_ws_open_sockets) after the tabs settled; absent in runs before they were read.',
      }),
    ),
    websockets_per_browser: Type.Optional(Type.Number()),
    window_seconds: Type.Number(),
    presence_writes: Type.Number({
      description: 'Committed presence transactions (presence.* endpoints) in the window.',
    }),
    serialization_failures: Type.Number(),
    posts: Type.Number({
      description: 'Posts sent by tabs, the one after the tab closed included; posts_failed of them were not 201.',
    }),
    posts_failed: Type.Number(),
    expected: Type.Number({ description: '(post, open tab) pairs for the posts that got 201.' }),
    delivered: Type.Number(),
    lost: Type.Number(),
    duplicated: Type.Number({ description: 'Arrivals of a message in a tab beyond the first.' }),
    delivery_ms: NullableNumber({
      description: 'From the first post until every tab showed every post; null if some never did.',
    }),
    handover_ms: NullableNumber({
      description:
        'From closing one tab per browser (the leader, in leader mode) until every remaining tab showed ' +
        'a post sent right after; null with one tab per browser or when some tab never showed it.',
    }),
    warnings: Type.Array(Type.String()),
  },
  {
    description:
      'One case in one tab mode, measured with the chat page in real tabs of headless Chromium ' +
      "(`busbench bench --browser`). Polls, sockets and websockets are the server's view after the tabs settled; " +
      'presence writes and 40001s cover the window from then until every post was delivered.',
  },
);
export type BrowserResult = Static<typeof browserResult>;

const thresholdResult = Closed({
  expression: Type.String({ description: 'As given to `--threshold`, e.g. "lost==0".' }),
  case: Type.String(),
  value: NullableNumber({ description: "The metric's value in the case; null: the case has no such rate." }),
  ok: Type.Boolean({ description: 'false: broken, and `busbench bench` exits 99.' }),
});
export type ThresholdResult = Static<typeof thresholdResult>;

const findMaxLine = Closed({
  id: Type.String({ description: 'The case id without its load and repeat, e.g. "cluster-fork presence=upsert".' }),
  held: Type.Union([loadRecord, Type.Null()], {
    description:
      'The largest load at which every run of the line was valid and held every expression; null: not even the first.',
  }),
  broke_at: Type.Union([loadRecord, Type.Null()], {
    description: 'The load that broke it; null: the schedule ended first, so `held` is a lower bound.',
  }),
  reason: Type.Unsafe<string | null>({
    type: ['string', 'null'],
    description:
      'What broke at `broke_at`: an expression with its value, an invalid case with why, or a case that failed to run.',
  }),
});
export type FindMaxLine = Static<typeof findMaxLine>;

const findMax = Closed(
  {
    expressions: Type.Array(Type.String(), { description: 'As given to `--find-max`, e.g. "delivery_p99_ms<1000".' }),
    schedule: Type.Array(loadRecord, { description: 'The loads in the order they were tried (doubling users).' }),
    lines: Type.Array(findMaxLine),
  },
  { description: '`busbench bench --find-max`: the largest load each layout held.' },
);
export type FindMax = Static<typeof findMax>;

/**
 * run.json's JSON Schema (draft-07), for ajv. `JSON.stringify(RUN_SCHEMA)` is the same schema as a
 * standalone file for readers outside TypeScript: TypeBox's own marks are symbol keys, which it drops.
 */
export const RUN_SCHEMA = Closed(
  {
    schema: Type.Literal('busbench/run@1'),
    engine: OneOf(ENGINES),
    started_at: Type.String(),
    finished_at: Type.String(),
    command: Type.String(),
    machine: Closed({
      cpus: Type.Number(),
      cpu_model: Type.String(),
      memory_bytes: Type.Number(),
      platform: Type.String(),
      node: Type.String(),
    }),
    profile: Type.Unsafe<Record<string, unknown> & { name: string }>({
      type: 'object',
      required: ['name'],
      properties: { name: Type.String() },
      description: 'The resolved load profile (loadtests/lib/profiles.js plus flags).',
    }),
    sweep: Dict(Type.Array(Type.String()), {
      description: "What the sweep varied, e.g. { topology: [...], presence: ['every-poll', 'upsert'] }.",
    }),
    cases: Type.Array(caseResult, {
      description: 'Empty when the run measured real browsers instead of the simulated load.',
    }),
    browser: Type.Optional(Type.Array(browserResult, { description: 'Written by `busbench bench --browser`.' })),
    thresholds: Type.Optional(Type.Array(thresholdResult, { description: 'One per `--threshold` and valid case.' })),
    find_max: Type.Optional(findMax),
  },
  {
    $schema: 'http://json-schema.org/draft-07/schema#',
    title: 'busbench/run@1',
    description:
      'run.json as written by `busbench bench` and read by `busbench report` and `busbench compare` ' +
      '(generated from src/bench/results.ts).',
  },
);
export type RunFile = Static<typeof RUN_SCHEMA>;
