// The browsers scenario: one VU is one browser, its tabs the poll loops of tab.js (the module
// the Node runner uses) on http.asyncRequest. It posts its share of the run's schedule, then
// checks what its tabs got against the server's history (a VU cannot see the others' posts).
import exec from 'k6/execution';
import http from 'k6/http';
import { countAgainstHistory } from './delivery.js';
import { K6Transport, wait, waitUntil } from './k6-transport.js';
import { K6SocketTransport } from './k6-ws.js';
import {
  hiddenTabs,
  isMeasured,
  LATE_TOLERANCE_MS,
  LOST_MARGIN_MS,
  measureWindow,
  postAuthors,
  postOffsets,
} from './load-plan.js';
import { Browser } from './tab.js';
import { SocketBrowser } from './ws-tab.js';

/**
 * The browsers scenario's exec function.
 * @param {import('./k6-env.js').K6Settings} settings
 * @param {import('./k6-metrics.js').K6Metrics} metrics
 */
export function browserVu(settings, metrics) {
  const profile = settings.profile;
  const browsers = profile.users * profile.browsersPerUser;
  const c = metrics.counters;

  /**
   * One browser: log in, start the tabs, post its share of the schedule, drain, check delivery.
   * @param {import('./k6-summary.js').SetupData} data
   */
  return async function browser(data) {
    // Unique across the instances of a distributed run (execution segments): no two run one browser.
    const index = exec.scenario.iterationInTest;
    c.browsersStarted.add(1);
    const measure = measureWindow(data.t0, profile);
    const inMeasure = (/** @type {number} */ due) => isMeasured(due, measure);
    await waitUntil(data.t0 + (index / browsers) * profile.warmup * 500);

    const websocket = settings.transport === 'websocket';
    const transport = new (websocket ? K6SocketTransport : K6Transport)(
      profile.connectionsPerOrigin,
      data.pollTimeout,
      {
        browserConnections: metrics.browserConnections,
        queued: metrics.queued,
        queuedMs: metrics.queuedMs,
        postQueuedMs: metrics.postQueuedMs,
        pollLatency: metrics.pollLatency,
        connectionsOpened: c.connectionsOpened,
        requests: metrics.requests,
      },
      inMeasure,
    );
    /** @type {import('./tab.js').BrowserOptions} */
    const options = {
      id: index + 1,
      login: `user${(index % profile.users) + 1}`,
      appUrl: data.appUrl,
      busUrl: data.busUrl,
      tabs: profile.tabsPerBrowser,
      tabMode: profile.tabMode,
      hidden: hiddenTabs(profile),
      hiddenSlowdown: profile.hiddenSlowdown,
      hiddenDelay: profile.hiddenDelay,
      pollTimeout: data.pollTimeout,
      runTag: data.runTag,
      transport,
      onReceipt: (r) => {
        if (r.kind === 'duplicate') c.duplicated.add(1);
        if (r.kind === 'out-of-order') c.outOfOrder.add(1);
        if (r.kind === 'first' && r.tab.startedAt > 0 && r.due >= r.tab.startedAt && inMeasure(r.due)) {
          metrics.deliveryLatency.add(r.at - r.due);
        }
      },
      onPoll: (withData) => c.polls.add(1, { result: withData ? 'data' : 'empty' }),
    };
    const b =
      transport instanceof K6SocketTransport
        ? new SocketBrowser(Object.assign({}, options, { transport, presenceInterval: profile.presenceInterval }))
        : new Browser(options);
    // A browser that has not logged in by the end of the measurement never takes part, as
    // in the Node runner, whose timeline does not wait for logins either.
    const opened = await Promise.race([
      b.open().then(
        () => '',
        (err) => String(err),
      ),
      waitUntil(measure.end).then(() => 'not open by the end of the measurement'),
    ]);
    if (opened !== '') {
      c.openFailures.add(1);
      console.error(`browser ${index + 1}: ${opened}`);
      b.stop();
      await done(settings);
      return;
    }
    c.browsersOpened.add(1);
    b.start();

    // This browser sends the posts of the run's plan that are its own (the same seeded due
    // times and authors in every VU and in the Node runner), so all VUs together keep the
    // profile's rate and arrival process.
    const offsets = postOffsets(profile);
    const authors = postAuthors(profile, offsets.length);
    /** @type {Promise<void>[]} */
    const sending = [];
    // As in the Node runner: answers after the drain are not the run's, and a measured post
    // still unanswered then counts as failed.
    let frozen = false;
    let unanswered = 0;
    for (let i = 0; i < offsets.length; i++) {
      const author = authors[i];
      if (!author || author.browser !== index) continue;
      const due = data.t0 + (offsets[i] || 0);
      if (due >= measure.end) break;
      await waitUntil(due);
      const lag = Date.now() - due;
      if (inMeasure(due)) {
        metrics.postLag.add(lag);
        if (lag > LATE_TOLERANCE_MS) c.latePosts.add(1);
      }
      const tab = b.tabs[author.tab] || b.tabs[0];
      if (!tab) break;
      const measured = inMeasure(due);
      if (measured) unanswered++;
      sending.push(
        b.post(tab, i + 1, due, profile.postTo, author.channel).then((sent) => {
          if (frozen) return;
          const ok = sent.reply.status === 201;
          if (!ok) c.finalFailures.add(1);
          if (!measured) return;
          unanswered--;
          if (ok) c.posts.add(1);
          else c.postsFailed.add(1);
          metrics.postLatency.add(Date.now() - due);
        }),
      );
    }
    await waitUntil(measure.end);
    const drainEnd = measure.end + profile.drain * 1000;
    await Promise.race([Promise.all(sending), waitUntil(drainEnd)]);
    b.reveal();
    await waitUntil(drainEnd);
    frozen = true;
    if (unanswered > 0) c.postsFailed.add(unanswered);

    const read = await history(b, data, drainEnd + HISTORY_SECONDS * 1000);
    if (read.failed > 0) c.historyFailures.add(read.failed);
    const count = countAgainstHistory(read.messages, b, data.runTag, LOST_MARGIN_MS, measure);
    c.expected.add(count.expected);
    c.delivered.add(count.delivered);
    c.lost.add(count.lost);
    c.pending.add(count.pending);
    // k6 cannot cancel a parked poll, and the iteration lasts until every request is back.
    // With DONE_URL, whoever runs the layout stops it once every browser is done (the bench
    // does), which answers them; without, a post on one of the browser's channels does. Its
    // client_id is no post's, so no delivery check counts it.
    const stopping = b.stop();
    transport.close();
    if (settings.doneUrl) await done(settings);
    else await wake(b, data);
    await stopping;
  };
}

/** @param {import('./k6-env.js').K6Settings} settings */
async function done(settings) {
  if (!settings.doneUrl) return;
  await http.asyncRequest('POST', settings.doneUrl, null, { tags: { endpoint: 'done', name: 'done' }, timeout: '10s' });
}

/**
 * Answers the browser's parked polls: a message on a channel its tabs all listen on, the one
 * other browsers share least (not "general" when the user has another).
 * @param {Browser} b @param {import('./k6-summary.js').SetupData} data
 */
async function wake(b, data) {
  const others = b.channelIds.filter((id) => id !== 1);
  const channel = others.length > 0 ? others[0] : b.channelIds[0];
  if (channel === undefined) return;
  await http.asyncRequest(
    'POST',
    `${data.appUrl}/channels/${channel}/messages`,
    JSON.stringify({ body: 'busbench: end of run', client_id: `${data.runTag}:end` }),
    {
      headers: { authorization: `Bearer ${b.token}`, 'content-type': 'application/json' },
      tags: { endpoint: 'chat.post', name: 'chat.post.end' },
    },
  );
}

/**
 * How long after the drain the delivery check may spend reading history: a layout too busy
 * to answer (worker-threads with every thread holding a poll) gets its channels counted as
 * unread, and the run says so, rather than holding the run up for k6's request timeouts.
 */
const HISTORY_SECONDS = 15;

/**
 * The browser's channels as the server has them, newest first, back to the run's start:
 * the list of posts the delivery check holds the tabs to. Sent outside the tabs' connection
 * cap, like a devtools request, so parked polls do not hold it up.
 * @param {Browser} b @param {import('./k6-summary.js').SetupData} data @param {number} deadline
 * @returns {Promise<{ messages: import('./delivery.js').HistoryMessage[], failed: number }>} failed: channels whose history could not be read.
 */
async function history(b, data, deadline) {
  /** @type {import('./delivery.js').HistoryMessage[]} */
  const out = [];
  let failed = 0;
  /** A page that fails is asked again, a second apart, while the budget lasts. */
  const get = async (/** @type {string} */ url) => {
    for (;;) {
      const left = deadline - Date.now();
      if (left <= 0) return undefined;
      const res = await http.asyncRequest('GET', url, null, {
        headers: { authorization: `Bearer ${b.token}` },
        timeout: `${Math.ceil(left / 1000)}s`,
        tags: { endpoint: 'chat.history', name: 'chat.history' },
      });
      if (res.status === 200) return res;
      console.error(`history ${url}: HTTP ${res.status || res.error}`);
      if (deadline - Date.now() > 1000) await wait(1000);
    }
  };
  for (const id of b.channelIds) {
    let before = '';
    for (let page = 0; page < 1000; page++) {
      const res = await get(`${data.appUrl}/channels/${id}/messages?limit=200${before}`);
      if (!res) {
        // Counted, so the run says its delivery check is incomplete rather than clean.
        failed++;
        break;
      }
      const body = JSON.parse(String(res.body));
      for (const m of body.messages) out.push(m);
      const oldest = body.messages[0];
      if (body.next_before === null || !oldest || Date.parse(oldest.created_at) < data.t0) break;
      before = `&before=${body.next_before}`;
    }
  }
  return { messages: out, failed };
}
