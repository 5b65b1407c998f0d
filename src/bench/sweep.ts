// What a bench run measures: the profile with the flags applied, and the cases of the sweep
// (layout x load x presence x isolation x dispatch x transport x repeat), each with the exact
// profile and server settings it runs with.
import { PROFILES, type Profile, quickProfile } from '../../loadtests/lib/profiles.js';
import type { BusTransport } from '../../loadtests/lib/ws-tab.js';
import {
  type Config,
  type DispatchMode,
  type IsolationLevel,
  type PresenceStrategy,
  RETRY_PRESETS,
  type TopologyName,
} from '../lib/server-options.js';
import type { BenchOptions } from './options.js';
import type { LoadRecord } from './results.js';

/** What a case offers its layout: simulated users, and the tabs of each of their browsers. */
export interface Load {
  users: number;
  tabsPerBrowser: number;
}

export interface Case {
  /** e.g. "cluster-fork users=40 presence=upsert #2": the layout plus whatever the sweep varies. */
  id: string;
  topology: TopologyName;
  load: Load;
  presence: PresenceStrategy;
  isolation: IsolationLevel;
  dispatch: DispatchMode;
  /** How the tabs hear the bus. */
  transport: BusTransport;
}

/** The profile with the flags applied; `--quick` first applies the profile's quick settings. */
export function resolveProfile(options: BenchOptions): Profile {
  const named = PROFILES[options.profile];
  if (!named) throw new Error(`unknown profile ${options.profile}`);
  const base = options.quick ? quickProfile(named) : named;
  const pick = <T>(flag: T | null, fallback: T): T => (flag === null ? fallback : flag);
  return {
    ...base,
    // A swept load starts at its first value; each case's own is caseProfile()'s.
    users: pick(options.profileUsers?.[0] ?? null, base.users),
    browsersPerUser: pick(options.browsers, base.browsersPerUser),
    tabsPerBrowser: pick(options.tabs?.[0] ?? null, base.tabsPerBrowser),
    tabMode: pick(options.tabMode, base.tabMode),
    connectionsPerOrigin: pick(options.connections, base.connectionsPerOrigin),
    windowsPerBrowser: pick(options.windows, base.windowsPerBrowser),
    hiddenSlowdown: options.hiddenSlowdown === null ? base.hiddenSlowdown : options.hiddenSlowdown === 'on',
    warmup: pick(options.warmup, base.warmup),
    duration: pick(options.duration, base.duration),
    rate: pick(options.rate, base.rate),
    arrivals: pick(options.arrivals, base.arrivals),
    seed: pick(options.seed, base.seed),
    pollTimeout: pick(options.benchPollTimeout, base.pollTimeout),
    presenceInterval: pick(options.benchPresenceInterval, base.presenceInterval),
  };
}

/** The loads of the sweep: every --users value crossed with every --tabs value, in the order given. */
export function loadsOf(options: BenchOptions, profile: Profile): Load[] {
  // The browser bench sizes its own load (--browser-count, --browser-tabs).
  if (options.browser) return [{ users: profile.users, tabsPerBrowser: profile.tabsPerBrowser }];
  const users = options.profileUsers ?? [profile.users];
  const tabs = options.tabs ?? [profile.tabsPerBrowser];
  return users.flatMap((u) => tabs.map((t) => ({ users: u, tabsPerBrowser: t })));
}

/**
 * The cross product of the sweep, named by what varies. `loads`: the sweep's by default;
 * `--find-max` passes one step's, and names the users in every id as its steps vary them.
 */
export function casesOf(
  options: BenchOptions,
  profile: Profile,
  server: Config,
  loads: Load[] = loadsOf(options, profile),
): Case[] {
  const namesUsers = new Set(loads.map((l) => l.users)).size > 1 || options.findMax !== null;
  const namesTabs = new Set(loads.map((l) => l.tabsPerBrowser)).size > 1;
  const sweep = {
    presence: options.presences ?? [profile.presence as PresenceStrategy],
    isolation: options.isolations ?? [profile.isolation as IsolationLevel],
    dispatch: options.dispatches ?? [server.dispatch],
    // Real browsers open the chat page with ?transport= of each.
    transport: options.transports,
  };
  const cases: Case[] = [];
  for (const topology of options.layouts)
    for (const load of loads)
      for (const presence of sweep.presence)
        for (const isolation of sweep.isolation)
          for (const dispatch of sweep.dispatch)
            for (const transport of sweep.transport)
              for (let r = 1; r <= options.repeat; r++) {
                // A bus on its own origin is a different deployment (a second 6-connection budget): named so.
                const separateBus = topology === 'dedicated-longpoll' && server.busOrigin === 'separate';
                const parts: string[] = [separateBus ? `${topology} (bus on its own origin)` : topology];
                if (namesUsers) parts.push(`users=${load.users}`);
                if (namesTabs) parts.push(`tabs=${load.tabsPerBrowser}`);
                if (sweep.presence.length > 1) parts.push(`presence=${presence}`);
                if (sweep.isolation.length > 1) parts.push(`isolation=${isolation}`);
                if (sweep.dispatch.length > 1) parts.push(`dispatch=${dispatch}`);
                if (transport !== 'longpoll') parts.push(`transport=${transport}`);
                if (options.repeat > 1) parts.push(`#${r}`);
                cases.push({ id: parts.join(' '), topology, load, presence, isolation, dispatch, transport });
              }
  return cases;
}

/** The profile one case runs: the run's, at the case's load. */
export function caseProfile(profile: Profile, c: Case): Profile {
  return { ...profile, users: c.load.users, tabsPerBrowser: c.load.tabsPerBrowser };
}

/** The load as run.json records it, with the tabs it adds up to. */
export function loadRecord(profile: Profile, load: Load): LoadRecord {
  return {
    users: load.users,
    browsers_per_user: profile.browsersPerUser,
    tabs_per_browser: load.tabsPerBrowser,
    tabs: load.users * profile.browsersPerUser * load.tabsPerBrowser,
  };
}

/** The exact server settings of one case: the user's, with what the profile and the sweep decide. */
export function caseConfig(server: Config, profile: Profile, c: Case): Config {
  return {
    ...server,
    topology: c.topology,
    port: 0,
    busPort: 0,
    presence: c.presence,
    isolation: c.isolation,
    dispatch: c.dispatch,
    users: c.load.users,
    channels: profile.channels,
    channelsPerUser: profile.channelsPerUser,
    pollTimeout: profile.pollTimeout,
    presenceInterval: profile.presenceInterval,
    ...(profile.retryPreset ? RETRY_PRESETS[profile.retryPreset] : {}),
  };
}
