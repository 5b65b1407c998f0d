// k6 load profile "many-tabs": seed 000: a few users with 20 tabs each; 14 of every 20 polls, and the posts, queue behind the 6 connections.
// The tabs behave as in `busbench bench --profile many-tabs` (loadtests/lib/tab.js, shared with the
// Node runner). Run:  k6 run -e BASE_URL=http://127.0.0.1:8069 loadtests/many-tabs.js
// against a layout serving what the profile expects: npx busbench serve --profile many-tabs
//
// Environment (every one optional; defaults in brackets):
//   BASE_URL        the layout's app origin, or nginx in front of it [http://127.0.0.1:8069]
//   BUS_URL         where /bus/* goes [the bus_url GET /config names, else BASE_URL]
//   TOPOLOGY        tag for every metric; warned about if the server says otherwise [unknown]
//   PROFILE         use another profile's settings with this script [many-tabs]
//   USERS BROWSERS TABS    users, browsers per user, tabs per browser; a VU is one browser [profile]
//   DURATION WARMUP DRAIN  seconds measured, of load before, at most after for late deliveries [profile]
//   RATE            chat posts per second for the whole run, open model [profile]
//   TAB_MODE WINDOWS CONNECTIONS  every-tab|leader|shared-worker (leader-tab: old name of leader), windows per browser (one visible tab each), connections per origin [profile]
//   TRANSPORT       longpoll (POST /bus/poll) or websocket (/websocket, k6/websockets); posts go over HTTP either way [longpoll]
//   HIDDEN_SLOWDOWN  on: hidden tabs wait 4 s + 1-20 s between polls; off: they poll like visible ones [profile]
//   ARRIVALS SEED   poisson (exponential gaps of mean 1/RATE, from SEED) or fixed (one post every 1/RATE s) [profile]
//   TESTID          tag testid on every metric (Grafana's testid variable) [none]
//   METRICS_URL     the layout's Prometheus metrics [BASE_URL/metrics]
//   DB_METRICS_URL  a `busbench db-exporter`'s metrics, for database figures [none]
//   OUT_DIR         existing folder for run.json and k6-summary.json [.]
//   MAX_ERROR_RATE  threshold on http_req_failed [0.01]; lost, duplicate and out-of-order must be 0
//   T0 RUN_TAG      distributed runs: the shared timeline start (ms since the epoch) and post tag [setup() picks]
//   DONE_URL        POSTed to when a browser's delivery check is done, so whoever runs the layout can stop it;
//                   without it each browser ends its parked polls with a post to its channel [none]
import { k6Script } from './lib/k6-run.js';

const script = k6Script('many-tabs');
export const options = script.options;
export const setup = script.setup;
export const browser = script.browser;
export const sampler = script.sampler;
export const handleSummary = script.handleSummary;
