// The real-browser delivery check: every post answered 201 must show exactly once in every
// tab that was open to see it; and when some do not, whether a tab's cursor went past them
// (skipped for good) or stayed behind (never answered since), which need different fixes.
import type { Received, TabState } from './browser-tabs.js';

export interface Delivery {
  expected: number;
  delivered: number;
  lost: number;
  duplicated: number;
}

/** A post that got its answer, and the tabs (keys of `received`) that were open to see it. */
export interface SentPost {
  clientId: string;
  status: number;
  audience: string[];
}

/** Each 201 post must show in each tab of its audience exactly once; any message shown twice in a tab is a duplicate. */
export function deliveryOf(posts: SentPost[], received: Map<string, Received[]>): Delivery {
  let expected = 0;
  let delivered = 0;
  for (const p of posts) {
    if (p.status !== 201) continue;
    for (const tab of p.audience) {
      expected++;
      if (received.get(tab)?.some((r) => r.clientId === p.clientId)) delivered++;
    }
  }
  let duplicated = 0;
  for (const list of received.values()) {
    const seen = new Set<number>();
    for (const r of list) {
      if (seen.has(r.messageId)) duplicated++;
      seen.add(r.messageId);
    }
  }
  return { expected, delivered, lost: expected - delivered, duplicated };
}

export function receivedOf(states: Map<string, TabState>): Map<string, Received[]> {
  return new Map([...states].map(([key, s]) => [key, s.received]));
}

export function shows(states: Map<string, TabState>, post: SentPost): boolean {
  return post.audience.every((tab) => states.get(tab)?.received.some((r) => r.clientId === post.clientId));
}

/**
 * Which tabs miss posts, and whether their cursor went past them (skipped for good) or stayed
 * behind (never answered since): the two need different fixes in the page.
 */
export function missingWarning(posts: SentPost[], states: Map<string, TabState>, delivery: Delivery): string {
  const busIds = new Map<string, number>();
  for (const s of states.values()) for (const r of s.received) if (r.clientId) busIds.set(r.clientId, r.busId);
  const tabs: string[] = [];
  for (const [key, s] of states) {
    const missing = posts.filter(
      (p) => p.status === 201 && p.audience.includes(key) && !s.received.some((r) => r.clientId === p.clientId),
    );
    if (missing.length === 0) continue;
    const passed = missing.filter((p) => (busIds.get(p.clientId) ?? Number.POSITIVE_INFINITY) <= s.last).length;
    const [browser = '', tab = ''] = key.split('/');
    tabs.push(
      `user${Number(browser) + 1} tab ${Number(tab) + 1}: ${missing.length} missing, cursor ${s.last} past ${passed} of them`,
    );
  }
  return `${delivery.lost} of ${delivery.expected} (post, tab) deliveries missing (${tabs.join('; ')})`;
}
