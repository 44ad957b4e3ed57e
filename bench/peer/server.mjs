// The peer mcpgate is measured against: what a user would build instead with
// the official TypeScript MCP SDK, following its own examples.
//
//   - OAuth: the SDK's mcpAuthRouter (metadata, /register, /authorize,
//     /token, /revoke) over an in-memory provider that approves every
//     authorization at once (no login, no consent page).
//   - MCP: stateless Streamable HTTP with JSON responses on POST /mcp (a
//     fresh McpServer and transport per request, as the SDK's stateless
//     example does) and the legacy HTTP+SSE transport (GET /sse,
//     POST /messages?sessionId=...), both behind requireBearerAuth.
//   - The same tools as mcpgate: hello_mcp, save_snippet, get_snippet, with
//     the same arguments and scopes.  Snippets live in a Map: a kill -9
//     loses them all.
//   - Rate limits switched off, as they are for mcpgate during the benchmark.
//
// Environment: PEER_PORT (required), PEER_HOST (default 127.0.0.1).
import { randomBytes } from 'node:crypto';
import express from 'express';
import * as z from 'zod/v4';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { SSEServerTransport } from '@modelcontextprotocol/sdk/server/sse.js';
import { mcpAuthRouter, getOAuthProtectedResourceMetadataUrl } from '@modelcontextprotocol/sdk/server/auth/router.js';
import { requireBearerAuth } from '@modelcontextprotocol/sdk/server/auth/middleware/bearerAuth.js';
import { InvalidGrantError, InvalidTokenError } from '@modelcontextprotocol/sdk/server/auth/errors.js';

const host = process.env.PEER_HOST || '127.0.0.1';
const port = Number(process.env.PEER_PORT);
if (!Number.isInteger(port) || port <= 0 || port > 65535) {
  console.error('peer: set PEER_PORT');
  process.exit(2);
}
const base = new URL(`http://${host}:${port}/`);
const mcpUrl = new URL('/mcp', base);
const SCOPES = ['snippets:read', 'snippets:write'];
const ACCESS_TTL = 3600;

const newToken = () => randomBytes(32).toString('base64url');

// ---- OAuth: an in-memory provider that approves everything -------------------

class MemoryClients {
  constructor() { this.clients = new Map(); }
  async getClient(id) { return this.clients.get(id); }
  async registerClient(client) {
    this.clients.set(client.client_id, client);
    return client;
  }
}

class AutoApproveProvider {
  constructor() {
    this.clientsStore = new MemoryClients();
    this.codes = new Map();    // code -> { clientId, params, exp }
    this.tokens = new Map();   // access token -> AuthInfo
    this.refresh = new Map();  // refresh token -> { clientId, scopes, resource }
  }

  // The user is always "demo": there is no login to ask who it is.
  async authorize(client, params, res) {
    const code = newToken();
    this.codes.set(code, { clientId: client.client_id, params, exp: Date.now() + 60000 });
    const to = new URL(params.redirectUri);
    to.searchParams.set('code', code);
    if (params.state !== undefined) to.searchParams.set('state', params.state);
    res.redirect(302, to.href);
  }

  async challengeForAuthorizationCode(client, code) {
    const c = this.codes.get(code);
    if (!c || c.clientId !== client.client_id) throw new InvalidGrantError('unknown code');
    return c.params.codeChallenge;
  }

  issue(clientId, scopes, resource) {
    const access = newToken();
    const refresh = newToken();
    this.tokens.set(access, {
      token: access, clientId, scopes,
      expiresAt: Math.floor(Date.now() / 1000) + ACCESS_TTL,
      resource, extra: { user: 'demo' },
    });
    this.refresh.set(refresh, { clientId, scopes, resource });
    return {
      access_token: access, token_type: 'Bearer', expires_in: ACCESS_TTL,
      refresh_token: refresh, scope: scopes.join(' '),
    };
  }

  async exchangeAuthorizationCode(client, code, _verifier, redirectUri) {
    const c = this.codes.get(code);
    this.codes.delete(code); // single use
    if (!c || c.clientId !== client.client_id || c.exp < Date.now()) {
      throw new InvalidGrantError('invalid code');
    }
    if (redirectUri !== undefined && redirectUri !== c.params.redirectUri) {
      throw new InvalidGrantError('redirect_uri mismatch');
    }
    const scopes = c.params.scopes && c.params.scopes.length ? c.params.scopes : SCOPES;
    return this.issue(client.client_id, scopes, c.params.resource);
  }

  async exchangeRefreshToken(client, refreshToken) {
    const r = this.refresh.get(refreshToken);
    this.refresh.delete(refreshToken);
    if (!r || r.clientId !== client.client_id) throw new InvalidGrantError('invalid refresh token');
    return this.issue(r.clientId, r.scopes, r.resource);
  }

  async verifyAccessToken(token) {
    const t = this.tokens.get(token);
    if (!t || t.expiresAt < Date.now() / 1000) throw new InvalidTokenError('invalid token');
    return t;
  }

  async revokeToken(_client, { token }) {
    this.tokens.delete(token);
    this.refresh.delete(token);
  }
}

// ---- MCP: the three tools ------------------------------------------------------

const snippets = new Map(); // `${user}\0${name}` -> text
const NAME = z.string().regex(/^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$/);

const text = (t, structured, isError = false) => ({
  content: [{ type: 'text', text: t }],
  ...(structured ? { structuredContent: structured } : {}),
  isError,
});

function needScope(extra, scope) {
  if (!extra.authInfo || !extra.authInfo.scopes.includes(scope)) {
    throw new Error(`insufficient scope: ${scope} required`);
  }
  return extra.authInfo.extra?.user ?? 'demo';
}

function buildServer() {
  const server = new McpServer({ name: 'mcp-peer', version: '1.0.0' });
  server.registerTool('hello_mcp', {
    title: 'Say hello',
    description: 'Greets the signed-in user by name. Takes no arguments; useful to check the connection.',
    outputSchema: { greeting: z.string(), user: z.string() },
  }, async (extra) => {
    const user = extra.authInfo?.extra?.user ?? 'demo';
    const greeting = `Hello, ${user}! I am mcp-peer.`;
    return text(greeting, { greeting, user });
  });
  server.registerTool('save_snippet', {
    title: 'Save a snippet',
    description: 'Saves a text snippet under a name, replacing any snippet of that name.',
    inputSchema: { snippetname: NAME, snippet: z.string().max(262144) },
    outputSchema: { snippetname: z.string(), bytes: z.number().int(), created: z.boolean() },
  }, async ({ snippetname, snippet }, extra) => {
    const user = needScope(extra, 'snippets:write');
    const key = `${user}\0${snippetname}`;
    const created = !snippets.has(key);
    snippets.set(key, snippet);
    const bytes = Buffer.byteLength(snippet);
    return text(`Saved snippet '${snippetname}' (${bytes} bytes${created ? ', new' : ', replaced the previous version'}).`,
      { snippetname, bytes, created });
  });
  server.registerTool('get_snippet', {
    title: 'Read a snippet',
    description: 'Returns the text of the snippet with the given name.',
    inputSchema: { snippetname: NAME },
    outputSchema: { snippetname: z.string(), snippet: z.string(), bytes: z.number().int() },
  }, async ({ snippetname }, extra) => {
    const user = needScope(extra, 'snippets:read');
    const s = snippets.get(`${user}\0${snippetname}`);
    if (s === undefined) return text(`no snippet named '${snippetname}'`, undefined, true);
    return text(s, { snippetname, snippet: s, bytes: Buffer.byteLength(s) });
  });
  return server;
}

// ---- HTTP ------------------------------------------------------------------------

const provider = new AutoApproveProvider();
const app = express();
app.disable('x-powered-by');
app.use(mcpAuthRouter({
  provider,
  issuerUrl: base,
  resourceServerUrl: mcpUrl,
  scopesSupported: SCOPES,
  authorizationOptions: { rateLimit: false },
  clientRegistrationOptions: { rateLimit: false },
  tokenOptions: { rateLimit: false },
  revocationOptions: { rateLimit: false },
}));
const bearer = requireBearerAuth({
  verifier: provider,
  resourceMetadataUrl: getOAuthProtectedResourceMetadataUrl(mcpUrl),
});
const json = express.json({ limit: '1mb' });

// Stateless Streamable HTTP: one server and transport per request.
app.post('/mcp', bearer, json, async (req, res) => {
  const server = buildServer();
  const transport = new StreamableHTTPServerTransport({
    sessionIdGenerator: undefined,
    enableJsonResponse: true,
  });
  res.on('close', () => {
    transport.close();
    server.close();
  });
  try {
    await server.connect(transport);
    await transport.handleRequest(req, res, req.body);
  } catch (err) {
    if (!res.headersSent) {
      res.status(500).json({ jsonrpc: '2.0', error: { code: -32603, message: 'Internal error' }, id: null });
    }
  }
});

// Legacy HTTP+SSE: one server per stream.
const streams = new Map();
app.get('/sse', bearer, async (req, res) => {
  const transport = new SSEServerTransport('/messages', res);
  const server = buildServer();
  streams.set(transport.sessionId, transport);
  res.on('close', () => {
    streams.delete(transport.sessionId);
    server.close();
  });
  await server.connect(transport);
});
app.post('/messages', bearer, json, async (req, res) => {
  const transport = streams.get(String(req.query.sessionId));
  if (!transport) {
    res.status(404).send('Session not found');
    return;
  }
  await transport.handlePostMessage(req, res, req.body);
});

const srv = app.listen(port, host, () => {
  console.log(`peer listening on ${base.href}`);
});
srv.keepAliveTimeout = 65000;
srv.headersTimeout = 66000;
srv.maxConnections = 100000;
const stop = () => srv.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
