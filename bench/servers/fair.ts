import { createSecretKey } from 'node:crypto';
import { createServer, type ServerResponse } from 'node:http';
import jwt from 'jsonwebtoken';
import pg from 'pg';

// The fair anchor of `npm run bench`: what GET /api/v1/users/me has to do, written by hand on
// node:http. Verify the bearer token (HS256, the same key), read the user by id through pg (the
// same statement kysely sends, a pool of the API's size), check the token version and the active
// flag, answer the same JSON. No middleware, no validation library, no event translation. The
// key is a KeyObject made once, as docsift's is (lib/auth/tokens.ts).
const key = createSecretKey(Buffer.from(process.env.SECRET_KEY!, 'utf8'));
const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 20 });

function reply(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

const server = createServer(async (req, res) => {
  try {
    const token = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '')?.[1];
    const claims = token ? jwt.verify(token, key, { algorithms: ['HS256'] }) : undefined;
    if (!claims || typeof claims === 'string') return reply(res, 401, { detail: 'Not authenticated' });
    const { rows } = await pool.query('select * from "users" where "id" = $1', [claims.sub]);
    const user = rows[0];
    if (!user || user.token_version !== (claims.ver ?? 0) || !user.is_active)
      return reply(res, 401, { detail: 'Could not validate credentials' });
    reply(res, 200, {
      id: user.id,
      email: user.email,
      full_name: user.full_name,
      is_active: user.is_active,
      is_superuser: user.is_superuser,
      created_at: user.created_at.toISOString(),
    });
  } catch {
    reply(res, 401, { detail: 'Could not validate credentials' });
  }
});
server.listen(Number(process.env.PORT), '127.0.0.1', () => console.log('ready'));
process.on('SIGTERM', () => server.close(() => void pool.end().then(() => process.exit(0))));
