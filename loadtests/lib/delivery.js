// The delivery check: every post that succeeded must reach every tab subscribed to its
// channel exactly once, in order. Shared by both engines, like tab.js.
import { isMeasured } from './load-plan.js';
import { parseClientId } from './tab.js';

/**
 * @typedef {object} PostRecord
 * @property {number} postId
 * @property {number} channel
 * @property {number} due When the post was due (ms since the epoch): it decides whether the post is measured.
 * @property {number} sentAt When the request left (ms since the epoch).
 * @property {number} ackedAt When the 201 came back.
 * @property {boolean} ok Whether the server answered 201.
 *
 * @typedef {object} HistoryMessage A message as GET /channels/:id/messages returns it.
 * @property {number} channel_id
 * @property {string | null} client_id
 * @property {string} created_at
 *
 * @typedef {object} DeliveryCount
 * @property {number} posts Posts that succeeded.
 * @property {number} expected (post, tab) pairs that must arrive.
 * @property {number} delivered Of those, how many arrived.
 * @property {number} lost Missing although the tab finished a poll sent after the post was acknowledged:
 *   that poll had to return it, so the tab's cursor went past it.
 * @property {number} pending Missing, but the tab had no such poll before the run ended (a slow
 *   or queued poll): late, not provably lost.
 * @property {number} duplicated Arrivals beyond the first.
 * @property {number} outOfOrder First arrivals older than something the tab had already applied.
 *
 * @typedef {object} Owed One post as the check sees it.
 * @property {number} postId
 * @property {number} channel
 * @property {number} from A tab whose first poll left at or before this owes the post.
 * @property {number} lostAfter A tab whose latest answered poll left at or after this must have it.
 */

/**
 * A tab must receive a post sent after its first poll left: the bus either returns it from
 * the recent buffer or wakes the parked poll. Posts sent before the tab started may arrive
 * too (the buffer) and are neither expected nor counted as duplicates.
 * Only posts due in `window` count, when one is given: both engines check the measure window.
 * @param {PostRecord[]} posts
 * @param {import('./tab.js').Browser[]} browsers
 * @param {import('./load-plan.js').Window} [window]
 * @returns {DeliveryCount}
 */
export function countDeliveries(posts, browsers, window) {
  /** @type {Owed[]} */
  const owed = [];
  for (const p of posts) {
    if (p.ok && (!window || isMeasured(p.due, window)))
      owed.push({ postId: p.postId, channel: p.channel, from: p.sentAt, lostAfter: p.ackedAt });
  }
  return tally(owed, browsers);
}

/**
 * The same check for an engine that cannot see the other browsers' posts (in k6 every VU is
 * its own JavaScript runtime): the server's message history of the browser's channels is the
 * list of posts. Nobody here knows when another browser's post was acknowledged, so a post
 * counts as lost only when the tab's latest answered poll left `marginMs` after the message
 * row was created (the row commits a few milliseconds after that); otherwise it is pending.
 * @param {HistoryMessage[]} messages
 * @param {import('./tab.js').Browser} browser
 * @param {string} runTag
 * @param {number} marginMs
 * @param {import('./load-plan.js').Window} [window] Only posts due in it count.
 * @returns {DeliveryCount}
 */
export function countAgainstHistory(messages, browser, runTag, marginMs, window) {
  /** @type {Owed[]} */
  const owed = [];
  for (const m of messages) {
    const post = parseClientId(m.client_id, runTag);
    if (!post || (window && !isMeasured(post.due, window))) continue;
    owed.push({
      postId: post.postId,
      channel: m.channel_id,
      from: post.due,
      lostAfter: Date.parse(m.created_at) + marginMs,
    });
  }
  return tally(owed, [browser]);
}

/**
 * @param {Owed[]} owed
 * @param {import('./tab.js').Browser[]} browsers
 * @returns {DeliveryCount}
 */
function tally(owed, browsers) {
  /** @type {Map<number, import('./tab.js').Tab[]>} */
  const tabsByChannel = new Map();
  let duplicated = 0;
  let outOfOrder = 0;
  for (const browser of browsers) {
    for (const tab of browser.tabs) {
      duplicated += tab.duplicates;
      outOfOrder += tab.outOfOrder;
      for (const channel of browser.channelIds) {
        const list = tabsByChannel.get(channel) || [];
        list.push(tab);
        tabsByChannel.set(channel, list);
      }
    }
  }
  let expected = 0;
  let delivered = 0;
  let lost = 0;
  for (const post of owed) {
    for (const tab of tabsByChannel.get(post.channel) || []) {
      if (tab.startedAt === 0 || tab.startedAt > post.from) continue;
      expected++;
      if (tab.received.has(post.postId)) delivered++;
      else if (tab.polledAt >= post.lostAfter) lost++;
    }
  }
  return {
    posts: owed.length,
    expected,
    delivered,
    lost,
    pending: expected - delivered - lost,
    duplicated,
    outOfOrder,
  };
}
