// The delivery check: every post that succeeded must reach every tab subscribed to its
// channel exactly once, in order. Shared by both engines, like tab.js.

/**
 * @typedef {object} PostRecord
 * @property {number} postId
 * @property {number} channel
 * @property {number} sentAt When the request left (ms since the epoch).
 * @property {number} ackedAt When the 201 came back.
 * @property {boolean} ok Whether the server answered 201.
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
 */

/**
 * A tab must receive a post sent after its first poll left: the bus either returns it from
 * the recent buffer or wakes the parked poll. Posts sent before the tab started may arrive
 * too (the buffer) and are neither expected nor counted as duplicates.
 * @param {PostRecord[]} posts
 * @param {import('./tab.js').Browser[]} browsers
 * @returns {DeliveryCount}
 */
export function countDeliveries(posts, browsers) {
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
  let ok = 0;
  let expected = 0;
  let delivered = 0;
  let lost = 0;
  for (const post of posts) {
    if (!post.ok) continue;
    ok++;
    for (const tab of tabsByChannel.get(post.channel) || []) {
      if (tab.startedAt === 0 || tab.startedAt > post.sentAt) continue;
      expected++;
      if (tab.received.has(post.postId)) delivered++;
      else if (tab.polledAt >= post.ackedAt) lost++;
    }
  }
  return { posts: ok, expected, delivered, lost, pending: expected - delivered - lost, duplicated, outOfOrder };
}
