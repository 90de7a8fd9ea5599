import { randomUUID } from 'node:crypto';

export type ApiResponse<T = any> = { status: number; headers: Headers; body: T; text: string };

type RequestOptions = {
  token?: string;
  json?: unknown;
  form?: Record<string, string>;
  body?: string;
  headers?: Record<string, string>;
};

/** A small fetch-based client for the API under test: JSON in, parsed JSON (or text) out. */
export function apiClient(baseUrl: string) {
  async function request<T = any>(
    method: string,
    path: string,
    options: RequestOptions = {},
  ): Promise<ApiResponse<T>> {
    const headers: Record<string, string> = { ...options.headers };
    let body: string | undefined = options.body;
    if (options.json !== undefined) {
      headers['content-type'] ??= 'application/json';
      body = JSON.stringify(options.json);
    }
    if (options.form) {
      headers['content-type'] ??= 'application/x-www-form-urlencoded';
      body = new URLSearchParams(options.form).toString();
    }
    if (options.token) headers.authorization = `Bearer ${options.token}`;
    const response = await fetch(new URL(path, baseUrl), {
      method,
      headers,
      ...(body !== undefined && { body }),
    });
    const text = await response.text();
    let parsed: unknown = text;
    if (/^application\/([a-z.+-]+\+)?json/.test(response.headers.get('content-type') ?? '') && text)
      parsed = JSON.parse(text);
    return { status: response.status, headers: response.headers, body: parsed as T, text };
  }

  const client = {
    request,
    get: <T = any>(path: string, options?: RequestOptions) => request<T>('GET', path, options),
    post: <T = any>(path: string, options?: RequestOptions) => request<T>('POST', path, options),
    patch: <T = any>(path: string, options?: RequestOptions) => request<T>('PATCH', path, options),
    delete: <T = any>(path: string, options?: RequestOptions) => request<T>('DELETE', path, options),

    /** Logs in with the OAuth2 password form and returns the access token. */
    async login(email: string, password: string): Promise<string> {
      const res = await request('POST', '/api/v1/login/access-token', {
        form: { username: email, password },
      });
      if (res.status !== 200) throw new Error(`login failed for ${email}: ${res.status} ${res.text}`);
      return res.body.access_token as string;
    },

    /** Creates a user through the superuser API and logs in as them. */
    async newUser(
      adminToken: string,
      fields: { email?: string; password?: string; full_name?: string } = {},
    ) {
      const email = fields.email ?? `user-${randomUUID()}@example.com`;
      const password = fields.password ?? 'password-123';
      const res = await request('POST', '/api/v1/users', {
        token: adminToken,
        json: { email, password, full_name: fields.full_name ?? null },
      });
      if (res.status !== 201) throw new Error(`user creation failed: ${res.status} ${res.text}`);
      return { id: res.body.id as string, email, password, token: await client.login(email, password) };
    },
  };
  return client;
}

export type ApiClient = ReturnType<typeof apiClient>;
