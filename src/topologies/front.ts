// dedicated-longpoll's one origin, as Odoo's documented proxy gives it: a reverse proxy on the
// app's port that sends /bus/* to the bus process and everything else to the forked workers
// (one request to each in turn), so a browser's 6 connections are shared by page requests
// and polls. It runs in the cluster
// primary (node:http in, undici pools out), because nginx is not on every machine the kit
// runs on. Like nginx it keeps upstream connections alive, streams bodies both ways, passes
// status and headers (Retry-After) through, and closes the upstream request when the client
// hangs up, so a parked poll's waiter is dropped at once rather than at its timeout.
import http from 'node:http';
import net from 'node:net';
import { type Duplex, PassThrough } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Pool } from 'undici';
import { errorResponse } from '../app/app.js';
import { answerAndLinger, faceClients, rawErrorResponse, rawHttpResponse } from '../app/http-server.js';
import type { Metrics } from '../app/metrics.js';
import { errors, type HttpError } from '../lib/errors.js';

export interface FrontOptions {
  host: string;
  port: number;
  /** Origins behind the front: one per worker, and the bus process's. */
  app: string[];
  bus: string;
  /** Longest a poll may wait upstream before its answer (--poll-timeout), in ms. */
  pollTimeoutMs: number;
  /** The primary's registry: the front counts client sockets as every serving process does. */
  metrics: Metrics;
}

export interface Front {
  port: number;
  /** Stops accepting; requests on open connections get 503 E_SHUTTING_DOWN, answers in flight still go out. */
  stopAccepting(): void;
  /** Once the processes behind it stopped: closes what is left and the upstream pools. */
  close(): Promise<void>;
}

/** Request headers that describe one hop (RFC 9110 7.6.1), which undici also refuses to be given. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'expect',
]);

/** How long the front gives what is still open after the processes behind it stopped. */
const CLOSE_GRACE_MS = 5000;
/** A worker that refused a connection (restarting after a crash) gets no requests for this long. */
const REFUSED_PAUSE_MS = 1000;

interface Upstream {
  pool: Pool;
  /** Date.now() until which it is passed over, after it refused a connection. */
  pausedUntil: number;
}

export async function startFront(options: FrontOptions): Promise<Front> {
  const { metrics } = options;
  const processLabel = { process: metrics.process };
  const pool = (origin: string) =>
    new Pool(origin, {
      // Under the workers' 65 s keep-alive, so the front never reuses a socket the worker is closing.
      keepAliveTimeout: 60_000,
      // A parked poll answers within --poll-timeout; past that and a margin, the upstream is stuck.
      headersTimeout: options.pollTimeoutMs + 30_000,
      bodyTimeout: 30_000,
    });
  const workers: Upstream[] = options.app.map((o) => ({ pool: pool(o), pausedUntil: 0 }));
  const bus: Upstream = { pool: pool(options.bus), pausedUntil: 0 };
  let turn = 0;
  let closing = false;

  /** The next worker in turn, passing over those that just refused a connection while another is up. */
  function nextWorker(): Upstream {
    const now = Date.now();
    for (let i = 0; i < workers.length; i++) {
      const worker = workers[turn++ % workers.length] as Upstream;
      if (worker.pausedUntil <= now) return worker;
    }
    return workers[turn++ % workers.length] as Upstream;
  }
  const rejected = new WeakSet<Duplex>();

  const server = http.createServer({ connectionsCheckingInterval: 1000 }, (req, res) => {
    void forward(req, res);
  });
  faceClients(server, rejected);
  server.on('connection', (socket) => {
    metrics.openSockets.inc(processLabel);
    metrics.socketsOpened.inc(processLabel);
    socket.on('close', () => metrics.openSockets.dec(processLabel));
  });

  // /websocket goes to the bus process as nginx's `proxy_pass` with the Upgrade headers does
  // it: the request head is replayed on a new connection, then bytes flow both ways until either
  // side closes. The bus process decides the upgrade (101, or 401 and the rest) itself.
  server.on('upgrade', (req: http.IncomingMessage, client: Duplex, head: Buffer) => {
    client.on('error', () => client.destroy());
    const path = (req.url ?? '/').split('?')[0];
    if (closing || path !== '/websocket') {
      const error = closing
        ? errors.shuttingDown()
        : errors.notFound(`no websocket endpoint at ${path}; use /websocket`);
      client.end(rawErrorResponse(error));
      return;
    }
    const target = new URL(options.bus);
    const upstream = net.connect(Number(target.port), target.hostname);
    upstream.on('connect', () => {
      upstream.write(upgradeHead(req));
      if (head.length > 0) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    upstream.on('error', (err: NodeJS.ErrnoException) => {
      if (upstream.bytesRead === 0 && client.writable) {
        client.end(rawErrorResponse(errors.upstreamUnavailable('the bus process', err.code ?? err.message)));
      } else client.destroy();
    });
    upstream.on('close', () => client.destroy());
    client.on('close', () => upstream.destroy());
  });

  async function forward(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    if (closing) return answerError(res, errors.shuttingDown());
    const url = req.url ?? '/';
    const isBus = url.startsWith('/bus/') || url.split('?')[0] === '/websocket';
    const upstream = isBus ? bus : nextWorker();
    const hangUp = new AbortController();
    // The client went away before its answer: the upstream request is cut, so the bus process
    // sees the hang-up as it would from the browser itself.
    res.once('close', () => {
      if (!res.writableFinished) hangUp.abort();
    });
    const hasBody = req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;
    // undici destroys a request body it stops sending (the upstream answered before reading it
    // all), and destroying `req` would cut the client's socket before it gets that answer.
    let body: PassThrough | null = null;
    if (hasBody) {
      body = new PassThrough();
      req.pipe(body);
      req.once('error', (err) => body?.destroy(err));
    }
    let answer: Awaited<ReturnType<Pool['request']>>;
    try {
      answer = await upstream.pool.request({
        method: (req.method ?? 'GET') as 'GET',
        path: url,
        headers: requestHeaders(req),
        body,
        signal: hangUp.signal,
      });
    } catch (err) {
      if (hangUp.signal.aborted || rejected.has(req.socket)) return;
      const code = (err as NodeJS.ErrnoException).code ?? String(err);
      if (code === 'ECONNREFUSED') upstream.pausedUntil = Date.now() + REFUSED_PAUSE_MS;
      return answerError(res, errors.upstreamUnavailable(isBus ? 'the bus process' : 'a worker', code));
    }
    if (res.destroyed) {
      answer.body.destroy();
      return;
    }
    if (!req.complete) {
      // Answered before the client's body was read (a 413): the client must read it before
      // its connection closes, as from a worker directly.
      req.unpipe();
      const text = await answer.body.text().catch(() => undefined);
      if (text === undefined) res.destroy();
      else answerAndLinger(req, rawHttpResponse(answer.statusCode, responseHeaders(answer.headers, true), text));
      return;
    }
    res.writeHead(answer.statusCode, responseHeaders(answer.headers, closing));
    // A worker that dies mid-answer leaves a response that cannot be finished: the client's
    // connection is cut, as nginx does, rather than ended as if the body were complete.
    await pipeline(answer.body, res).catch(() => res.destroy());
  }

  function answerError(res: http.ServerResponse, error: HttpError): void {
    const { status, headers, body } = errorResponse(error, 'unmatched');
    res.writeHead(status, { ...headers, ...(closing ? { connection: 'close' } : {}) });
    res.end(body);
  }

  const port = await new Promise<number>((done, fail) => {
    server.once('error', fail);
    server.listen({ port: options.port, host: options.host }, () => {
      server.off('error', fail);
      const address = server.address();
      done(address && typeof address === 'object' ? address.port : options.port);
    });
  });
  const closed = new Promise<void>((done) => server.once('close', () => done()));

  return {
    port,
    stopAccepting() {
      closing = true;
      server.close();
      server.closeIdleConnections();
    },
    async close() {
      closing = true;
      server.close();
      server.closeIdleConnections();
      const grace = setTimeout(() => server.closeAllConnections(), CLOSE_GRACE_MS);
      await closed;
      clearTimeout(grace);
      await Promise.all([...workers, bus].map((u) => u.pool.destroy()));
    },
  };
}

/** The upgrade request as the bus process gets it: the client's headers, Upgrade and Connection kept, plus X-Forwarded-For. */
function upgradeHead(req: http.IncomingMessage): string {
  const lines = [`${req.method ?? 'GET'} ${req.url ?? '/'} HTTP/1.1`];
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i] ?? '';
    if (/^x-forwarded-(for|proto)$/i.test(name)) continue;
    lines.push(`${name}: ${req.rawHeaders[i + 1]}`);
  }
  const client = req.socket.remoteAddress ?? '';
  const before = req.headers['x-forwarded-for'];
  lines.push(`X-Forwarded-For: ${before ? `${before}, ${client}` : client}`, 'X-Forwarded-Proto: http');
  return `${lines.join('\r\n')}\r\n\r\n`;
}

/** The client's headers minus the hop-by-hop ones, with the client's address as X-Forwarded-For. */
function requestHeaders(req: http.IncomingMessage): Record<string, string | string[]> {
  const named = new Set(
    String(req.headers.connection ?? '')
      .split(',')
      .map((h) => h.trim().toLowerCase()),
  );
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined || HOP_BY_HOP.has(name) || named.has(name)) continue;
    headers[name] = value;
  }
  const client = req.socket.remoteAddress ?? '';
  const before = req.headers['x-forwarded-for'];
  headers['x-forwarded-for'] = before ? `${before}, ${client}` : client;
  headers['x-forwarded-proto'] = 'http';
  return headers;
}

/**
 * The upstream's headers for the client. Framing is the front's own (Node sets its length or
 * chunking); a `connection: close` is kept, since an upstream that closes after a 413 has left
 * the rest of the client's body unread.
 */
function responseHeaders(
  upstream: Record<string, string | string[] | undefined>,
  closing: boolean,
): Record<string, string | string[]> {
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(upstream)) {
    if (value === undefined || name === 'transfer-encoding' || name === 'keep-alive' || name === 'connection') continue;
    headers[name] = value;
  }
  if (closing || upstream.connection === 'close') headers.connection = 'close';
  return headers;
}
