// The HTTP front on a real socket, with a stub in place of the App (no database): what Node's
// parser refuses never becomes a request, so these bytes are written by hand with node:net
// and must still get the JSON error every other failure gets.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createHttpServer, type HttpServer } from '../src/app/http-server.js';
import { Metrics } from '../src/app/metrics.js';
import { HEADERS_TIMEOUT_MS, REQUEST_TIMEOUT_MS } from '../src/lib/http-timeouts.js';
import { eventually, type RawReply, rawRequest, request } from './helpers.js';

const CRLF = '\r\n';

describe('the HTTP front', () => {
  let front: HttpServer;
  let metrics: Metrics;
  let url: string;
  /** The URLs the stub App was asked for. */
  const handled: string[] = [];

  before(async () => {
    metrics = new Metrics('single-process', 'main');
    front = createHttpServer({
      config: { bodyLimit: 65_536, topology: 'single-process' },
      metrics,
      handle: async (req) => {
        handled.push(req.url);
        // A parked poll: answered long after its request arrived.
        if (req.url === '/parked') await sleep(1200);
        return { status: 200, endpoint: 'stub', headers: { 'content-type': 'application/json' }, body: '{"ok":true}' };
      },
      layoutMetrics: async () => '',
    });
    // Node's defaults (60 s for headers, 300 s for the whole request, checked every 30 s) are
    // too long to wait for. The check interval is a createServer option Node reads at listen.
    front.server.headersTimeout = 500;
    front.server.requestTimeout = 500;
    Object.assign(front.server, { connectionsCheckingInterval: 100 });
    url = `http://127.0.0.1:${await front.listen(0, '127.0.0.1')}`;
  });
  after(async () => {
    await front.close();
  });

  function assertJsonError(reply: RawReply, status: number, code: string, what: string): void {
    assert.equal(reply.status, status, what);
    assert.equal(reply.headers['content-type'], 'application/json', what);
    assert.equal(reply.headers.connection, 'close', what);
    assert.equal(reply.headers['access-control-allow-origin'], '*', what);
    assert.equal(Number(reply.headers['content-length']), Buffer.byteLength(reply.text), what);
    const { error } = JSON.parse(reply.text) as { error: { code: string; message: string } };
    assert.equal(error.code, code, what);
    assert.ok(error.message.length > 20, what);
  }

  /** The front counts a request refused mid-body only once its socket has closed. */
  const socketsClosed = () =>
    eventually(async () => ((await metrics.openSockets.get()).values.every((v) => v.value === 0) ? true : undefined));

  const answered = async (status: string) =>
    (await metrics.httpRequests.get()).values.find(
      (v) => v.labels.endpoint === 'unmatched' && v.labels.status === status,
    )?.value ?? 0;

  test("a request Node's parser refuses gets the JSON error with Node's status, and the server keeps serving", async () => {
    const cases: [what: string, bytes: string, status: number, code: string][] = [
      [
        'Content-Length and Transfer-Encoding',
        `POST / HTTP/1.1${CRLF}Host: x${CRLF}Content-Length: 5${CRLF}Transfer-Encoding: chunked${CRLF}${CRLF}0${CRLF}${CRLF}`,
        400,
        'E_BAD_REQUEST',
      ],
      ['a bad method token', `G@T / HTTP/1.1${CRLF}Host: x${CRLF}${CRLF}`, 400, 'E_BAD_REQUEST'],
      [
        'a 20 KB header',
        `GET / HTTP/1.1${CRLF}Host: x${CRLF}X-Big: ${'a'.repeat(20_000)}${CRLF}${CRLF}`,
        431,
        'E_HEADERS_TOO_LARGE',
      ],
      ['a 20 KB URL', `GET /${'a'.repeat(20_000)} HTTP/1.1${CRLF}Host: x${CRLF}${CRLF}`, 431, 'E_HEADERS_TOO_LARGE'],
      [
        '20 KB of chunk extensions',
        `POST / HTTP/1.1${CRLF}Host: x${CRLF}Transfer-Encoding: chunked${CRLF}${CRLF}1;e=${'a'.repeat(20_000)}${CRLF}`,
        413,
        'E_CHUNK_EXTENSIONS_TOO_LARGE',
      ],
    ];
    for (const [what, bytes, status, code] of cases) {
      assertJsonError(await rawRequest(url, bytes), status, code, what);
    }
    await socketsClosed();
    assert.equal(await answered('400'), 2);
    assert.equal(await answered('431'), 2);
    assert.equal(await answered('413'), 1);
    assert.equal(await answered('500'), 0, 'the request refused mid-body is not also counted as a failure');
    // A client that resets right after sending garbage must not take the server down with it.
    const reset = net.connect(Number(new URL(url).port), '127.0.0.1');
    await new Promise((connected) => reset.on('connect', connected));
    reset.write(`G@T / HTTP/1.1${CRLF}${CRLF}`);
    reset.resetAndDestroy();
    const normal = await request('GET', `${url}/after`);
    assert.deepEqual([normal.status, normal.body], [200, { ok: true }]);
    assert.deepEqual(handled, ['/after'], 'no refused request reached the App');
  });

  test('the header and request timeouts are set, and an answer that comes later than both is not cut', async () => {
    const fresh = createHttpServer({
      config: { bodyLimit: 1, topology: 'single-process' },
      metrics: new Metrics('single-process', 'check'),
      handle: async () => ({ status: 200, endpoint: 'stub', headers: {}, body: '' }),
      layoutMetrics: async () => '',
    });
    assert.deepEqual(
      [fresh.server.headersTimeout, fresh.server.requestTimeout],
      [HEADERS_TIMEOUT_MS, REQUEST_TIMEOUT_MS],
    );
    assert.ok(HEADERS_TIMEOUT_MS < 60_000 && REQUEST_TIMEOUT_MS < 300_000, "shorter than Node's defaults");
    const parked = await request('GET', `${url}/parked`);
    assert.equal(parked.status, 200, 'answered 1.2 s after arriving, with both timeouts at 0.5 s');
  });

  test('a request that stops arriving gets 408 E_REQUEST_TIMEOUT as JSON', async () => {
    const headers = await rawRequest(url, `GET / HTTP/1.1${CRLF}Host: x${CRLF}`);
    assertJsonError(headers, 408, 'E_REQUEST_TIMEOUT', 'headers never finished');
    const body = await rawRequest(url, `POST / HTTP/1.1${CRLF}Host: x${CRLF}Content-Length: 10${CRLF}${CRLF}abc`);
    assertJsonError(body, 408, 'E_REQUEST_TIMEOUT', 'body never finished');
    await socketsClosed();
    assert.equal(await answered('408'), 2);
    assert.equal(await answered('500'), 0, 'the request that timed out mid-body is not also counted as a failure');
    assert.equal((await request('GET', `${url}/still`)).status, 200);
  });
});
