// Seed 004 (cross-process cache signaling): across cluster-fork's workers, a membership change
// is seen by the next request in every process, at one signaling query per request; with
// signaling off, other workers keep deciding on their stale cache. The bench has no load that
// changes memberships, so the experiment drives one itself: a member is removed and added back
// over and over, and after each change reads the channel on new connections, which cluster-fork
// hands to its workers in turn. A read is a stale decision when its answer (200 or 403)
// contradicts the membership the change had committed before the read was sent.
import { type Experiment, type Finding, findingHead, type StudyContext, type Verdict } from './experiment.js';
import {
  bugShows,
  login,
  meanOf,
  measureCases,
  rate,
  request,
  runsNote,
  type ServerFlags,
  saveMeasurements,
  scrape,
  serveCommand,
  show,
} from './seed-lab.js';

const SEED = '004';
const SOURCE = '004_05b0f4dee60fc2d6.txt';
const CLAIM =
  'The check on the sequences is done right when a new RPC call is done. Sequences are updated at the end of an RPC ' +
  'call. [...] Since the check is done right at the beginning of a new RPC call, that call/transaction will see ' +
  'correctly cleaned caches and updated registry.';
const TITLE = "a membership change seen by every worker's next request, with signaling and without";
const CHANNEL = 1;
/** user1 changes user2's membership of "general"; user2 reads it. */
const ADMIN = 'user1';
const MEMBER = 'user2';
const MEMBER_ID = 2;
const WORKERS = 2;
/** Reads after each change: enough to reach every worker at least once, twice. */
const READS = 2 * WORKERS;

interface Measured {
  reads: number;
  stale: number;
  /** Requests the layout answered (the experiment's own, /metrics left out). */
  requests: number;
  signalingQueries: number;
  invalidations: number;
}

function flags(signaling: 'on' | 'off'): ServerFlags {
  return { topology: 'cluster-fork', workers: String(WORKERS), cacheSignaling: signaling };
}

async function churn(url: string, rounds: number): Promise<Measured> {
  const [admin, member] = [await login(url, ADMIN), await login(url, MEMBER)];
  let requests = 2;
  const read = async () => {
    requests++;
    return (await request('GET', `${url}/channels/${CHANNEL}/messages?limit=1`, { token: member })).status;
  };
  // Every worker caches the member's channels before the first change.
  for (let i = 0; i < READS; i++) await read();
  let reads = 0;
  let stale = 0;
  for (let round = 0; round < rounds; round++) {
    for (const member of [false, true]) {
      const change = member
        ? await request('POST', `${url}/channels/${CHANNEL}/members`, { token: admin, body: { user_id: MEMBER_ID } })
        : await request('DELETE', `${url}/channels/${CHANNEL}/members/${MEMBER_ID}`, { token: admin });
      requests++;
      if (change.status >= 300) throw new Error(`membership change: ${change.status} ${JSON.stringify(change.body)}`);
      for (let i = 0; i < READS; i++) {
        const status = await read();
        if (status !== 200 && status !== 403) throw new Error(`read after a change: ${status}`);
        reads++;
        if ((status === 200) !== member) stale++;
      }
    }
  }
  const metric = await scrape(url);
  return {
    reads,
    stale,
    requests,
    signalingQueries: metric('busbench_cache_checks_total'),
    invalidations: metric('busbench_cache_invalidations_total'),
  };
}

export const experiments: Experiment[] = [
  {
    seed: SEED,
    id: 'cache-signaling',
    title: TITLE,
    claim: CLAIM,
    source: SOURCE,
    async run(ctx: StudyContext): Promise<Finding> {
      const rounds = ctx.quick ? 15 : 40;
      const cases = [
        { name: 'signaling on', flags: flags('on') },
        { name: 'signaling off', flags: flags('off') },
      ];
      const results = await measureCases(ctx, cases, (running) => churn(running.layout.url, rounds));
      const on = results.get('signaling on') ?? [];
      const off = results.get('signaling off') ?? [];
      const stale = (rs: Measured[]) =>
        rate(
          rs,
          (r) => r.stale,
          (r) => r.reads,
        );
      const perRequest = (rs: Measured[]) => rs.map((r) => (r.requests > 0 ? r.signalingQueries / r.requests : null));
      const invalidationsPerChange = (rs: Measured[]) => rs.map((r) => r.invalidations / (2 * rounds));
      const invalid = cases.flatMap((c) =>
        (results.get(c.name) ?? []).some((r) => r.reads === 0) ? [`${c.name}: no read was made`] : [],
      );
      const saved = await saveMeasurements(
        ctx,
        { seed: SEED, id: 'cache-signaling' },
        { workers: WORKERS, rounds, readsPerChange: READS, channel: CHANNEL, admin: ADMIN, member: MEMBER },
        cases,
        results,
        invalid,
      );
      const onStale = on.reduce((a, r) => a + r.stale, 0);
      const offStale = off.reduce((a, r) => a + r.stale, 0);
      const onCost = on.map((r) => r.signalingQueries / r.requests);
      const oneQueryEach = onCost.every((c) => Math.abs(c - 1) < 0.05);
      let verdict: Verdict = 'no verdict';
      let summary = invalid.length > 0 ? `invalid: ${invalid.join('; ')}` : '';
      if (invalid.length === 0) {
        summary =
          `signaling off: ${show(stale(off))} stale decisions per 100 reads (${offStale} of ` +
          `${off.reduce((a, r) => a + r.reads, 0)}); signaling on: ${onStale}, at ${show(perRequest(on), 2)} ` +
          'signaling queries per request';
        // A stale read or two with signaling off could be chance: within the counting noise of none.
        const shows = bugShows(stale(off), stale(on));
        verdict =
          onStale > 0 || shows === false
            ? 'not reproduced'
            : shows === null
              ? 'no verdict'
              : oneQueryEach
                ? 'reproduced'
                : 'reproduced with a different size';
      }
      const row = (label: string, rs: Measured[]) => ({
        label,
        values: {
          'stale decisions per 100 reads': show(stale(rs)),
          'stale decisions': show(
            rs.map((r) => r.stale),
            0,
          ),
          reads: show(
            rs.map((r) => r.reads),
            0,
          ),
          'signaling queries per request': show(perRequest(rs), 2),
          'caches cleared per change': show(invalidationsPerChange(rs), 2),
        },
      });
      return {
        ...findingHead(this),
        summary,
        setup:
          `cluster-fork with ${WORKERS} workers, default seed data; ${ADMIN} removes ${MEMBER} from channel ${CHANNEL} ` +
          `and adds them back, ${rounds} times each; after every change ${MEMBER} reads the channel ${READS} times, each ` +
          'on a new TCP connection (the primary hands connections to the workers in turn). Cases: ' +
          `\`${serveCommand(flags('on'))}\` and \`${serveCommand(flags('off'))}\`; ${runsNote(ctx)}, ` +
          'each on a fresh database.',
        columns: [
          'stale decisions per 100 reads',
          'stale decisions',
          'reads',
          'signaling queries per request',
          'caches cleared per change',
        ],
        figures: [row('signaling on', on), row('signaling off', off)],
        chart: {
          title: 'Reads decided on a stale membership cache, per 100 reads after a change',
          kind: 'bar',
          x: ['signaling on', 'signaling off'],
          series: [{ name: 'stale decisions per 100 reads', values: [stale(on), stale(off)].map(meanOf) }],
          unit: 'per 100 reads',
        },
        verdict,
        mechanism:
          `With signaling on every request read the sequence first (${show(perRequest(on), 2)} signaling queries per ` +
          `request) and each change cleared ${show(invalidationsPerChange(on), 2)} other caches, so the first read on ` +
          `any worker after a change decided on fresh data: ${onStale} stale decisions in all. With signaling off no ` +
          `process read the sequence (${show(perRequest(off), 2)} per request) and no other cache was cleared ` +
          `(${show(invalidationsPerChange(off), 2)} per change): the worker that did not make the change kept ` +
          `answering from its cache: ${show(stale(off))} of 100 reads were stale, against the half of the reads that ` +
          `${WORKERS} workers taking connections in turn give the worker that did not make the change.`,
        invalid,
        runs: saved.runs,
        cases: saved.cases,
      };
    },
  },
];
