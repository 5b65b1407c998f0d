// JSON over fetch against the busbench endpoints, with the session token once logged in.

export interface Reply<T> {
  status: number;
  body: T;
}

export class ApiError extends Error {
  readonly status: number;

  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

export class Api {
  /** '' for the page's own origin. */
  readonly baseUrl: string;
  token = '';

  constructor(baseUrl: string) {
    this.baseUrl = baseUrl;
  }

  /** Any answer, with its status; a network failure rejects. */
  async send<T>(method: string, path: string, body?: unknown): Promise<Reply<T>> {
    const headers: Record<string, string> = {};
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const response = await fetch(`${this.baseUrl}${path}`, {
      method,
      headers,
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: response.status, body: (await response.json()) as T };
  }

  /** The body of a 2xx answer; anything else rejects with the server's message. */
  async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const reply = await this.send<T & { error?: { message: string } }>(method, path, body);
    if (reply.status >= 300) {
      throw new ApiError(reply.status, `${method} ${path}: ${reply.status} ${reply.body.error?.message ?? ''}`);
    }
    return reply.body;
  }
}
