// k6/http for the emulator: asyncRequest on fetch, the blocking get on a child process (k6's
// sync requests block the VU; Node has no blocking fetch), and http_reqs / http_req_failed.
import { execFileSync } from 'node:child_process';
import { Counter, Rate } from './metrics.js';

const reqs = new Counter('http_reqs');
const failed = new Rate('http_req_failed');

interface Params {
  headers?: Record<string, string>;
  tags?: Record<string, string>;
  timeout?: string;
}

function response(status: number, body: string | null, error = '') {
  reqs.add(1);
  failed.add(status === 0 || status >= 400);
  return { status, body, error, timings: { connecting: 0 }, json: () => JSON.parse(body ?? 'null') };
}

async function asyncRequest(method: string, url: string, body: string | null, params: Params = {}) {
  try {
    const res = await fetch(url, { method, body: body ?? undefined, headers: params.headers });
    return response(res.status, await res.text());
  } catch (err) {
    return response(0, null, String(err));
  }
}

const FETCH_ONE = `fetch(process.argv[1]).then(async (r) => process.stdout.write(JSON.stringify({ status: r.status, body: await r.text() })), (e) => process.stdout.write(JSON.stringify({ status: 0, body: null, error: String(e) })))`;

function get(url: string) {
  const out = JSON.parse(execFileSync(process.execPath, ['-e', FETCH_ONE, url], { encoding: 'utf8' }));
  return response(out.status, out.body, out.error);
}

export default { asyncRequest, get };
