// The HTTP front of a process: reads bodies (bounded), hands the plain request to whatever
// runs the App (the same thread, or a piscina thread), writes the answer, and counts
// sockets and requests. /metrics and /healthz describe the whole layout, so the layout
// supplies them.
import http from 'node:http';
import type { Duplex } from 'node:stream';
import { errors, HttpError } from '../lib/errors.js';
import { HEADERS_TIMEOUT_MS, REQUEST_TIMEOUT_MS } from '../lib/http-timeouts.js';
import type { Config } from '../lib/server-options.js';
import type { AppRequest, AppResponse } from './app.js';
import { errorResponse, respond } from './app.js';
import { METRICS_CONTENT_TYPE, type Metrics } from './metrics.js';
import type { WebSocketEndpoint } from './websocket.js';

export interface HttpServerOptions {
  config: Pick<Config, 'bodyLimit' | 'topology'>;
  metrics: Metrics;
  /** `hungUp` is aborted when the client closes the connection before the answer is written. */
  handle: (req: AppRequest, hungUp: AbortSignal) => Promise<AppResponse>;
  layoutMetrics: () => Promise<string>;
  /**
   * 'front' behind dedicated-longpoll's front: the sockets are the front's, so they are counted
   * apart from client sockets, which the front counts.
   */
  socketsFrom?: 'clients' | 'front';
  /** Where accepted upgrades of /websocket go; without it the App's answer to the upgrade (a refusal) is all. */
  websocket?: WebSocketEndpoint;
}

const CORS = {
  // dedicated-longpoll serves the bus from another port, i.e. another origin for a browser.
  'access-control-allow-origin': '*',
  'access-control-allow-headers': 'authorization, content-type',
  'access-control-allow-methods': 'GET, POST, DELETE, OPTIONS',
  'access-control-max-age': '600',
};

export interface HttpServer {
  server: http.Server;
  listen(port: number, host: string, exclusive?: boolean): Promise<number>;
  /** Stops accepting; open keep-alive sockets are closed once their response is written. */
  close(): Promise<void>;
}

export function createHttpServer(options: HttpServerOptions): HttpServer {
  const { metrics, config } = options;
  const processLabel = { process: metrics.process };
  let closing = false;
  /** Sockets whose request the parser refused mid-body: the clientError handler answered it already. */
  const rejected = new WeakSet<Duplex>();

  // Node looks for expired headers and requests this often (30 s by default, on top of the timeouts).
  const server = http.createServer({ connectionsCheckingInterval: 1000 }, async (req, res) => {
    const started = process.hrtime.bigint();
    const hangUp = new AbortController();
    // 'close' before the answer is written: the client went away (a tab closed, a proxy gave up).
    res.once('close', () => {
      if (!res.writableFinished) hangUp.abort();
    });
    let response: AppResponse;
    try {
      response = await route(req, hangUp.signal);
    } catch (err) {
      if (rejected.has(req.socket)) return;
      if (err instanceof BodyTooLarge) {
        metrics.httpRequests.inc({ endpoint: 'unmatched', status: String(err.error.status) });
        answerAndLinger(req, rawErrorResponse(err.error));
        return;
      }
      // e.g. a cluster primary that did not answer for /metrics: E_BUSY, not E_INTERNAL
      if (!(err instanceof HttpError)) console.error('[busbench] request failed outside the app:', err);
      response = errorResponse(err, 'unmatched');
    }
    metrics.httpRequests.inc({ endpoint: response.endpoint, status: String(response.status) });
    metrics.httpDuration.observe({ endpoint: response.endpoint }, Number(process.hrtime.bigint() - started) / 1e9);
    if (res.destroyed) return;
    res.writeHead(response.status, { ...CORS, ...response.headers, ...(closing ? { connection: 'close' } : {}) });
    res.end(response.body);
  });
  faceClients(server, rejected, (error) =>
    metrics.httpRequests.inc({ endpoint: 'unmatched', status: String(error.status) }),
  );
  server.on('connection', (socket) => {
    if (options.socketsFrom === 'front') {
      metrics.frontSockets.inc(processLabel);
      socket.on('close', () => metrics.frontSockets.dec(processLabel));
      return;
    }
    metrics.openSockets.inc(processLabel);
    metrics.socketsOpened.inc(processLabel);
    socket.on('close', () => metrics.openSockets.dec(processLabel));
  });

  // A websocket's upgrade is a GET /websocket the App answers like any request (session,
  // served-here and bus checks, in a request thread in worker-threads): 200 opens the socket,
  // anything else is written back as the HTTP answer and the connection closed.
  server.on('upgrade', async (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    const url = new URL(req.url ?? '/', 'http://busbench');
    const token = url.searchParams.get('token');
    // Browsers cannot set headers on a WebSocket, so the session comes in the query (Odoo reads its cookie).
    const authorization = req.headers.authorization ?? (token ? `Bearer ${token}` : undefined);
    const hangUp = new AbortController();
    socket.once('close', () => hangUp.abort());
    let response: AppResponse;
    if (closing) response = errorResponse(errors.shuttingDown(), 'websocket');
    else if (url.pathname !== '/websocket' || String(req.headers.upgrade).toLowerCase() !== 'websocket') {
      response = errorResponse(
        errors.notFound(`no websocket endpoint at ${url.pathname}; use /websocket`),
        'unmatched',
      );
    } else {
      response = await options
        .handle(
          {
            method: req.method ?? 'GET',
            // The token stays out of the App's request, and so out of any log line naming the URL.
            url: url.pathname,
            host: req.headers.host,
            proxied: req.headers['x-forwarded-for'] !== undefined,
            authorization,
            body: '',
            upgrade: 'websocket',
          },
          hangUp.signal,
        )
        .catch((err: unknown) => errorResponse(err, 'websocket'));
    }
    const opens = response.status === 200 && options.websocket && authorization && !closing;
    metrics.httpRequests.inc({ endpoint: response.endpoint, status: opens ? '101' : String(response.status) });
    if (socket.destroyed) return;
    if (opens) {
      options.websocket?.accept(req, socket, head, authorization);
      return;
    }
    if (response.status === 200)
      response = errorResponse(errors.notFound('this process serves no websocket'), 'websocket');
    socket.end(rawResponse(response));
  });

  async function route(req: http.IncomingMessage, hungUp: AbortSignal): Promise<AppResponse> {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method === 'OPTIONS') return { status: 204, endpoint: 'cors', headers: {}, body: '' };
    if (closing) return errorResponse(errors.shuttingDown(), 'unmatched');
    if (req.method === 'GET' && path === '/metrics') {
      return {
        status: 200,
        endpoint: 'metrics',
        headers: { 'content-type': METRICS_CONTENT_TYPE },
        body: await options.layoutMetrics(),
      };
    }
    // /bus/healthz names the process that serves the bus: behind dedicated-longpoll's front,
    // the bus process (the fault bench's worker-kill needs its pid); elsewhere any process.
    if (req.method === 'GET' && (path === '/healthz' || path === '/bus/healthz')) {
      return respond(200, 'healthz', {
        status: 'ok',
        topology: config.topology,
        process: metrics.process,
        pid: process.pid,
      });
    }
    const body = await readBody(req, config.bodyLimit);
    if (body === undefined) throw new BodyTooLarge(errors.tooLarge(config.bodyLimit));
    return options.handle(
      {
        method: req.method ?? 'GET',
        url: req.url ?? '/',
        host: req.headers.host,
        proxied: req.headers['x-forwarded-for'] !== undefined,
        authorization: req.headers.authorization,
        body,
      },
      hungUp,
    );
  }

  return {
    server,
    listen: (port, host, exclusive = false) =>
      new Promise((done, fail) => {
        server.once('error', fail);
        server.listen({ port, host, exclusive }, () => {
          server.off('error', fail);
          const address = server.address();
          done(address && typeof address === 'object' ? address.port : port);
        });
      }),
    close: () =>
      new Promise((done) => {
        closing = true;
        server.close(() => done());
        server.closeIdleConnections();
        void options.websocket?.close();
      }),
  };
}

/** The answer to a request Node's parser refused, or undefined for a socket error (ECONNRESET) that gets none. */
function parserRejection(err: NodeJS.ErrnoException, server: http.Server): HttpError | undefined {
  if (err.code === 'HPE_HEADER_OVERFLOW') return errors.headersTooLarge(http.maxHeaderSize);
  if (err.code === 'HPE_CHUNK_EXTENSIONS_OVERFLOW') return errors.chunkExtensionsTooLarge();
  if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    return errors.requestTimeout(server.headersTimeout / 1000, server.requestTimeout / 1000);
  }
  if (err.code?.startsWith('HPE_')) return errors.badRequest(`${err.code}: ${(err as { reason?: string }).reason}`);
  return undefined;
}

/**
 * What writeHead and end would send, for a socket that has no ServerResponse: one the parser
 * refused, or an upgrade that is refused.
 */
export function rawErrorResponse(error: HttpError): string {
  return rawResponse(errorResponse(error, 'unmatched'));
}

function rawResponse({ status, headers, body }: AppResponse): string {
  return rawHttpResponse(status, { ...CORS, ...headers }, body);
}

/** A whole HTTP/1.1 answer as bytes for the socket, framed by its length and closing the connection. */
export function rawHttpResponse(status: number, headers: Record<string, string | string[]>, body: string): string {
  const lines = Object.entries({
    ...headers,
    'content-length': String(Buffer.byteLength(body)),
    connection: 'close',
  }).flatMap(([name, value]) => (Array.isArray(value) ? value : [value]).map((v) => `${name}: ${v}`));
  return [`HTTP/1.1 ${status} ${http.STATUS_CODES[status]}`, ...lines, '', body].join('\r\n');
}

/** A body over --body-limit: answered on the socket itself, see answerAndLinger. */
class BodyTooLarge extends Error {
  constructor(readonly error: HttpError) {
    super(error.message);
  }
}

/** How long a refused client has to read its 413 before the connection is reset. */
export const LINGER_MS = 2000;

/**
 * Answers a request whose body is not read to its end (over the limit here, or refused
 * upstream behind dedicated-longpoll's front). Node's own path would either read the whole
 * body (keep-alive) or close the socket right after writing the answer with request bytes
 * still unread, and the kernel then resets the connection, which can discard the answer before
 * the client reads it (it saw EPIPE). Here the socket stops being read (the paused request
 * backs up the parser, then TCP backs up the client), the answer and a FIN go out, and the
 * socket is destroyed only after LINGER_MS, once the client could read it.
 */
export function answerAndLinger(req: http.IncomingMessage, raw: string): void {
  const socket = req.socket;
  req.pause();
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  socket.end(raw);
  const timer = setTimeout(() => socket.destroy(), LINGER_MS);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
}

/** The body as text, or undefined as soon as it is known to be larger than `limit` bytes (413). */
function readBody(req: http.IncomingMessage, limit: number): Promise<string | undefined> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limit) return Promise.resolve(undefined);
  return new Promise((done, fail) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      chunks.push(chunk);
      if (size <= limit) return;
      // Stop at the limit: a 50 MB chunked upload is not read to its end to be refused.
      req.off('data', onData);
      req.pause();
      done(undefined);
    };
    req.on('data', onData);
    req.on('end', () => done(Buffer.concat(chunks).toString('utf8')));
    req.on('error', fail);
  });
}

/**
 * What every server that browsers talk to shares (each serving process, and dedicated-longpoll's
 * front), so a layout is measured the same whichever process accepts its sockets. A socket the
 * parser refused joins `rejected`: its half-parsed request must not be answered twice.
 */
export function faceClients(
  server: http.Server,
  rejected: WeakSet<Duplex>,
  onRejected?: (error: HttpError) => void,
): void {
  // Browsers keep idle connections about 60 s; Node's 5 s default would make every tab
  // reconnect between polls and inflate the connection counts being measured.
  server.keepAliveTimeout = 65_000;
  // A client gets HEADERS_TIMEOUT_MS to send its headers and REQUEST_TIMEOUT_MS for the whole
  // request, then 408: a socket that trickles bytes must not hold a connection for Node's 60 s
  // and 300 s. Both end once the request has arrived, so a parked poll, whose answer comes up
  // to --poll-timeout later, is never cut by them.
  server.headersTimeout = HEADERS_TIMEOUT_MS;
  server.requestTimeout = REQUEST_TIMEOUT_MS;
  // Node's parser refuses some requests before there is one to route (a Content-Length and
  // Transfer-Encoding conflict, a bad method, headers over its limit, a request that never
  // finished arriving) and would answer with an empty body: clients get the JSON error instead.
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    const error = parserRejection(err, server);
    if (!error || !socket.writable) {
      socket.destroy();
      return;
    }
    rejected.add(socket);
    onRejected?.(error);
    socket.end(rawErrorResponse(error));
  });
}
