// How long a client has to send a request before a 408 E_REQUEST_TIMEOUT. Its own module
// because the HTTP server sets them and the error table documents them: one definition.

/** Milliseconds a client has for its request line and headers. */
export const HEADERS_TIMEOUT_MS = 10_000;
/** Milliseconds a client has for its whole request, body included. */
export const REQUEST_TIMEOUT_MS = 30_000;
