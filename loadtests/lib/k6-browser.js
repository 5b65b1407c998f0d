// The browsers scenario: one VU is one browser, its tabs the poll loops of tab.js (the module
// the Node runner uses) on http.asyncRequest. It posts its share of the run's schedule, then
// checks what its tabs got against the server's history (a VU cannot see the others' posts).
import exec from 'k6/execution';
import http from 'k6/http';
import { countAgainstHistory } from './delivery.js';
import { K6Transport, waitUntil } from './k6-transport.js';
import { hiddenTabs, isMeasured, LATE_TOLERANCE_MS, LOST_MARGIN_MS, measureWindow, postOffsets } from './load-plan.js';
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
    const index = exec.scenario.iterationInTest;
    const measure = measureWindow(data.t0, profile);
    const inMeasure = (/** @type {number} */ due) => isMeasured(due, measure);
    await waitUntil(data.t0 + (index / browsers) * profile.warmup * 500);

    const transport = new K6Transport(
      profile.connectionsPerOrigin,
      data.pollTimeout,
      {
        browserConnections: metrics.browserConnections,
        queued: metrics.queued,
        queuedMs: metrics.queuedMs,
        postQueuedMs: metrics.postQueuedMs,
        pollLatency: metrics.pollLatency,
        connectionsOpened: c.connectionsOpened,
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
    });
    try {
      await b.open();
    } catch (err) {
      c.openFailures.add(1);
      console.error(`browser ${index + 1}: ${err}`);
      return;
    }
    b.start();

    // This browser sends every browsers-th post of the run's schedule (the same seeded due
    // times in every VU), so all VUs together keep the profile's rate and arrival process.
    const offsets = postOffsets(profile);
    /** @type {Promise<void>[]} */
    const sending = [];
    for (let i = index; i < offsets.length; i += browsers) {
      const due = data.t0 + (offsets[i] || 0);
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
          if (sent.reply.status === 201) c.posts.add(1);
          else c.finalFailures.add(1);
          if (inMeasure(due)) metrics.postLatency.add(Date.now() - due);
        }),
      );
    }
    await waitUntil(measure.end);
    await Promise.all(sending);
    b.reveal();
    await waitUntil(measure.end + profile.drain * 1000);

    const messages = await history(b, data);
    const count = countAgainstHistory(messages, b, data.runTag, LOST_MARGIN_MS);
    c.expected.add(count.expected);
    c.delivered.add(count.delivered);
    c.lost.add(count.lost);
    c.pending.add(count.pending);
    // The tab loops end after their current request: parked polls come back within the poll timeout.
    await b.stop();
  };
}

/**
 * The browser's channels as the server has them, newest first, back to the run's start:
 * the list of posts the delivery check holds the tabs to. Sent outside the tabs' connection
 * cap, like a devtools request, so parked polls do not hold it up.
 * @param {Browser} b @param {import('./k6-summary.js').SetupData} data
 * @returns {Promise<import('./delivery.js').HistoryMessage[]>}
 */
async function history(b, data) {
  /** @type {import('./delivery.js').HistoryMessage[]} */
  const out = [];
  const params = {
    headers: { authorization: `Bearer ${b.token}` },
    tags: { endpoint: 'chat.history', name: 'chat.history' },
  };
  for (const id of b.channelIds) {
    let before = '';
    for (let page = 0; page < 1000; page++) {
      const res = await http.asyncRequest(
        'GET',
        `${data.appUrl}/channels/${id}/messages?limit=200${before}`,
        null,
        params,
      );
      if (res.status !== 200) {
        console.error(`history of channel ${id}: HTTP ${res.status}`);
        break;
      }
      const body = JSON.parse(String(res.body));
      for (const m of body.messages) out.push(m);
      const oldest = body.messages[0];
      if (body.next_before === null || !oldest || Date.parse(oldest.created_at) < data.t0) break;
      before = `&before=${body.next_before}`;
    }
  }
  return out;
}
