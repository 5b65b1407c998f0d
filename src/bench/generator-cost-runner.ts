// The Node runner alone, as `busbench generator-cost` starts it in a process of its own so
// that its whole-process peak RSS and CPU are the runner's: <url> <tabs> <warmup s> <duration s>.
// One tab per browser, polling only, against the benchmark's trivial long-poll server.
import { setTimeout as sleep } from 'node:timers/promises';
import { PROFILES, type Profile } from '../../loadtests/lib/profiles.js';
import { Runner } from './runner.js';

const [url = '', tabs = '0', warmup = '0', duration = '0'] = process.argv.slice(2);
const profile: Profile = {
  ...(PROFILES.tabs as Profile),
  name: 'generator-cost',
  users: Number(tabs),
  browsersPerUser: 1,
  tabsPerBrowser: 1,
  rate: 0,
  pollTimeout: 5,
  warmup: Number(warmup),
  duration: Number(duration),
  drain: 0,
};
const runner = new Runner(profile, { appUrl: url, busUrl: url, runTag: 'generator-cost' });
const started = Date.now();
// The node engine's timeline: browsers arrive over the first half of the warm-up.
await runner.start((profile.warmup * 1000) / 2);
await sleep(Math.max(0, started + (profile.warmup + profile.duration) * 1000 - Date.now()));
// The loops end once their parked polls time out, as k6's VUs do.
await runner.stop();
await runner.close();
