// The README's table of load profiles, rendered from loadtests/lib/profiles.js, so what each
// profile loads, how --quick changes it and which Odoo presence behaviour it uses is read from
// the profile itself.
import { hiddenTabs, MIN_POLL_CYCLES, pollCycleSeconds } from '../../loadtests/lib/load-plan.js';
import { PROFILES, type Profile, QUICK, quickProfile } from '../../loadtests/lib/profiles.js';
import { PRESENCE_STRATEGY_DOCS } from '../app/presence.js';
import { type PresenceStrategy, RETRY_PRESETS } from '../lib/server-options.js';

const code = (text: string) => `\`${text}\``;

function tabsCell(p: Profile): string {
  const tabs = p.users * p.browsersPerUser * p.tabsPerBrowser;
  const windows = p.windowsPerBrowser > 1 ? ` in ${p.windowsPerBrowser} windows` : '';
  return `${p.users} x ${p.browsersPerUser} x ${p.tabsPerBrowser}${windows} = ${tabs}`;
}

function hiddenCell(p: Profile): string {
  const hidden = hiddenTabs(p).filter((h) => h).length;
  if (hidden === 0) return 'none';
  const how = p.hiddenSlowdown ? 'wait 4 s + 1-20 s between polls' : 'poll like visible ones';
  return `${hidden} of ${p.tabsPerBrowser}, ${how}`;
}

function postsCell(p: Profile): string {
  const where = p.postTo === 'general' ? ', all to general' : '';
  return `${p.rate}${where}, ${p.arrivals}`;
}

/** What --quick changes so that its window still spans three poll cycles. */
function quickCell(p: Profile): string {
  const q = quickProfile(p);
  const changes: string[] = [];
  if (q.pollTimeout !== p.pollTimeout) changes.push(`poll timeout shortened to ${q.pollTimeout} s`);
  if (q.presenceInterval !== p.presenceInterval && p.presence === 'throttled') {
    changes.push(`presence interval ${q.presenceInterval} s`);
  }
  if (q.duration > QUICK.duration) changes.push(`window lengthened to ${q.duration} s`);
  const cycles = `${(q.duration / pollCycleSeconds(q)).toFixed(1)} cycles`;
  return `${q.warmup} + ${q.duration} s (${changes.length ? `${changes.join(', ')}; ` : ''}${cycles})`;
}

function presenceCell(p: Profile): string {
  const doc = PRESENCE_STRATEGY_DOCS[p.presence as PresenceStrategy];
  const retry = p.retryPreset
    ? `; preset ${code(p.retryPreset)}: a conflict re-runs the whole poll, ${RETRY_PRESETS[p.retryPreset].maxTries} tries, backoff base ${RETRY_PRESETS[p.retryPreset].retryBase} s`
    : '';
  return `${code(p.presence)}: ${doc}${retry}`;
}

export const PROFILE_TABLE_HEADER = [
  'Profile',
  'Users x browsers x tabs',
  'Mode',
  'Posts/s, arrivals',
  'Poll timeout',
  'Hidden tabs per browser',
  'Warm-up + measured',
  'With --quick',
  'Presence (Odoo behaviour)',
  'What it shows',
] as const;

export function profileTableRows(): string[][] {
  return Object.values(PROFILES).map((p) => [
    p.name === 'tabs' ? `${code(p.name)} (default)` : code(p.name),
    tabsCell(p),
    p.tabMode,
    postsCell(p),
    `${p.pollTimeout} s`,
    hiddenCell(p),
    `${p.warmup} + ${p.duration} s (${(p.duration / pollCycleSeconds(p)).toFixed(1)} cycles)`,
    quickCell(p),
    presenceCell(p),
    p.description,
  ]);
}

export const PROFILE_TABLE_NOTE =
  'A poll cycle is the longest a tab goes between two polls: the poll timeout, plus the longest sleep of a ' +
  `hidden tab that slows down. Every measured window spans at least ${MIN_POLL_CYCLES}, with and without --quick.`;
