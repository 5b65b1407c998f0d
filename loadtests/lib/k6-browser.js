// The browsers scenario: one VU is one browser, its tabs the poll loops of tab.js (the module
// the Node runner uses) on http.asyncRequest. It posts its share of the run's schedule, then
// checks what its tabs got against the server's history (a VU cannot see the others' posts).
import exec from 'k6/execution';
import http from 'k6/http';
import { countAgainstHistory } from './delivery.js';
import { K6Transport, wait, waitUntil } from './k6-transport.js';
import {
  hiddenTabs,
  isMeasured,
  LATE_TOLERANCE_MS,
  LOST_MARGIN_MS,
  measureWindow,
  postCount,
  postDue,
} from './load-plan.js';
import { Browser } from './tab.js';

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

    const transport = new K6Transport(
      profile.connectionsPerOrigin,
      data.pollTimeout,
      {
        browserConnections: metrics.browserConnections,
        queued: metrics.queued,
        pollLatency: metrics.pollLatency,
        connectionsOpened: c.connectionsOpened,
        requests: metrics.requests,
      },
      inMeasure,
    );
    const b = new Browser({
      id: index + 1,
      login: `user${(index % profile.users) + 1}`,
      appUrl: data.appUrl,
      busUrl: data.busUrl,
      tabs: profile.tabsPerBrowser,
      tabMode: profile.tabMode,
      hidden: hiddenTabs(profile, index),
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
    });
    try {
      await b.open();
    } catch (err) {
      c.openFailures.add(1);
      console.error(`browser ${index + 1}: ${err}`);
      return;
    }
    c.browsersOpened.add(1);
    b.start();

    // This browser sends every browsers-th post of the run's schedule, so all VUs together
    // keep the profile's rate.
    const limit = postCount(profile);
    /** @type {Promise<void>[]} */
    const sending = [];
    for (let i = index; i < limit; i += browsers) {
      const due = postDue(data.t0, i, profile.rate);
      if (due >= measure.end) break;
      await waitUntil(due);
      const lag = Date.now() - due;
      if (inMeasure(due)) {
        metrics.postLag.add(lag);
        if (lag > LATE_TOLERANCE_MS) c.latePosts.add(1);
      }
      const tab = b.tabs[Math.floor(Math.random() * b.tabs.length)] || b.tabs[0];
      if (!tab) break;
      sending.push(
        b.post(tab, i + 1, due, profile.postTo).then((sent) => {
          const ok = sent.reply.status === 201;
          if (!ok) c.finalFailures.add(1);
          if (!inMeasure(due)) return;
          if (ok) c.posts.add(1);
          else c.postsFailed.add(1);
          metrics.postLatency.add(Date.now() - due);
        }),
      );
    }
    await waitUntil(measure.end);
    await Promise.all(sending);
    b.reveal();
    await waitUntil(measure.end + profile.drain * 1000);

    const read = await history(b, data);
    if (read.failed > 0) c.historyFailures.add(read.failed);
    const count = countAgainstHistory(read.messages, b, data.runTag, LOST_MARGIN_MS, measure);
    c.expected.add(count.expected);
    c.delivered.add(count.delivered);
    c.lost.add(count.lost);
    c.pending.add(count.pending);
    // k6 cannot cancel a parked poll, and the iteration lasts until every request is back:
    // a post on one of the browser's channels answers its tabs' parked polls now rather
    // than at the poll timeout. Its client_id is no post's, so no delivery check counts it.
    const stopping = b.stop();
    transport.close();
    await wake(b, data);
    await stopping;
  };
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

/** A history page that fails is asked again this many times, a second apart, before it counts as unread. */
const HISTORY_TRIES = 3;

/**
 * The browser's channels as the server has them, newest first, back to the run's start:
 * the list of posts the delivery check holds the tabs to. Sent outside the tabs' connection
 * cap, like a devtools request, so parked polls do not hold it up.
 * @param {Browser} b @param {import('./k6-summary.js').SetupData} data
 * @returns {Promise<{ messages: import('./delivery.js').HistoryMessage[], failed: number }>} failed: channels whose history could not be read.
 */
async function history(b, data) {
  /** @type {import('./delivery.js').HistoryMessage[]} */
  const out = [];
  let failed = 0;
  const params = {
    headers: { authorization: `Bearer ${b.token}` },
    tags: { endpoint: 'chat.history', name: 'chat.history' },
  };
  for (const id of b.channelIds) {
    let before = '';
    for (let page = 0; page < 1000; page++) {
      const url = `${data.appUrl}/channels/${id}/messages?limit=200${before}`;
      let res = await http.asyncRequest('GET', url, null, params);
      for (let tries = 1; tries < HISTORY_TRIES && res.status !== 200; tries++) {
        await wait(1000);
        res = await http.asyncRequest('GET', url, null, params);
      }
      if (res.status !== 200) {
        // Counted, so the run says its delivery check is incomplete rather than clean.
        console.error(`history of channel ${id}: HTTP ${res.status || res.error}`);
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
