#!/usr/bin/env node
// A test OpenID provider for mcpgate's end-to-end tests, built on the
// oidc-provider package.  It logs users in WITHOUT A PASSWORD and can be told
// to misbehave: it is a test fixture and must never face a real network.
// See README.md beside this file for the options, users and modes.
//
//   node idp.mjs [--port N] [--host 127.0.0.1]
//
// Prints its issuer URL (e.g. http://127.0.0.1:41234) on stdout once it
// accepts connections; everything else goes to stderr.

import { generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import http from 'node:http';
import { parseArgs } from 'node:util';

import Provider from 'oidc-provider';

const { values: args } = parseArgs({
  options: {
    port: { type: 'string' },
    host: { type: 'string' },
  },
});

const env = process.env;
const HOST = args.host ?? env.IDP_HOST ?? '127.0.0.1';
const PORT = Number(args.port ?? env.IDP_PORT ?? 0);
const CLIENT_ID = env.IDP_CLIENT_ID ?? 'mcpgate';
const CLIENT_SECRET = env.IDP_CLIENT_SECRET ?? 'mcpgate-test-secret';
const REDIRECT_URIS = (env.IDP_REDIRECT_URIS ?? env.IDP_REDIRECT_URI ?? 'http://127.0.0.1:8080/oauth/callback')
  .split(/[\s,]+/)
  .filter(Boolean);

if (!['127.0.0.1', '::1', 'localhost'].includes(HOST)) {
  process.stderr.write(`idp: refusing to listen on ${HOST}: loopback only\n`);
  process.exit(2);
}

// Test users; sub = the user name.
const USERS = {
  alice: { name: 'Alice Example', preferred_username: 'alice', email: 'alice@example.com' },
  bob: { name: 'Bob Example', preferred_username: 'bob', email: 'bob@example.com' },
  carol: { preferred_username: 'carol' },
  mallory: { name: 'Mallory <script>alert(1)</script>\u0007', email: 'mallory@example.com' },
};

// Misbehaviours for negative tests (README.md lists them).
const MODES = new Set([
  'normal', 'deny', 'bad_sig', 'wrong_aud', 'wrong_nonce', 'wrong_iss', 'expired',
  'alg_none', 'hs256', 'unknown_kid', 'rotate', 'token_error', 'unavailable', 'down',
  'slow', 'wrong_discovery_issuer',
]);

const state = {
  mode: env.IDP_MODE ?? 'normal',
  user: env.IDP_USER ?? 'alice',
  interactive: env.IDP_INTERACTIVE === '1',
};
if (!MODES.has(state.mode) || !USERS[state.user]) {
  process.stderr.write(`idp: bad IDP_MODE or IDP_USER\n`);
  process.exit(2);
}

// Fresh keys on every start: RS256 and ES256 signing keys the provider
// publishes, one "rotated" key published only in mode rotate, and one
// rogue key never published (mode unknown_kid).
function jwk(type, opts, kid, alg) {
  const { privateKey } = generateKeyPairSync(type, opts);
  return { key: privateKey, jwk: { ...privateKey.export({ format: 'jwk' }), kid, alg, use: 'sig' } };
}
const rsa = jwk('rsa', { modulusLength: 2048 }, 'rs256-1', 'RS256');
const ec = jwk('ec', { namedCurve: 'P-256' }, 'es256-1', 'ES256');
const rotated = jwk('rsa', { modulusLength: 2048 }, 'rs256-2', 'RS256');
const rogue = jwk('rsa', { modulusLength: 2048 }, 'rs256-rogue', 'RS256');

function publicJwk({ jwk: k }) {
  const { d, p, q, dp, dq, qi, ...pub } = k;
  return pub;
}

const b64u = (buf) => Buffer.from(buf).toString('base64url');
const unb64u = (s) => JSON.parse(Buffer.from(s, 'base64url').toString('utf8'));

function signJws(header, payload, key) {
  const input = `${b64u(JSON.stringify(header))}.${b64u(JSON.stringify(payload))}`;
  const sig = header.alg.startsWith('ES')
    ? sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' })
    : sign('sha256', Buffer.from(input), key);
  return `${input}.${b64u(sig)}`;
}

// Rewrite the ID token the provider issued, as the current mode demands.
function tamper(idToken, issuer) {
  const [h, p, s] = idToken.split('.');
  const header = unb64u(h);
  const claims = unb64u(p);
  const keyOf = (hdr) => (hdr.alg === 'ES256' ? ec.key : rsa.key);
  const now = Math.floor(Date.now() / 1000);
  switch (state.mode) {
    case 'bad_sig': {
      const sig = Buffer.from(s, 'base64url');
      sig[sig.length - 1] ^= 0x01;
      return `${h}.${p}.${b64u(sig)}`;
    }
    case 'wrong_aud':
      return signJws(header, { ...claims, aud: 'someone-else', azp: 'someone-else' }, keyOf(header));
    case 'wrong_nonce':
      return signJws(header, { ...claims, nonce: 'not-the-nonce-you-sent' }, keyOf(header));
    case 'wrong_iss':
      return signJws(header, { ...claims, iss: `${issuer}/evil` }, keyOf(header));
    case 'expired':
      return signJws(header, { ...claims, iat: now - 7200, exp: now - 3600 }, keyOf(header));
    case 'alg_none':
      return `${b64u(JSON.stringify({ alg: 'none', typ: 'JWT' }))}.${p}.`;
    case 'hs256':
      return `${b64u(JSON.stringify({ alg: 'HS256', kid: rsa.jwk.kid }))}.${p}.${s}`;
    case 'unknown_kid':
      return signJws({ alg: 'RS256', kid: rogue.jwk.kid, typ: 'JWT' }, claims, rogue.key);
    case 'rotate':
      return signJws({ alg: 'RS256', kid: rotated.jwk.kid, typ: 'JWT' }, claims, rotated.key);
    default:
      return idToken;
  }
}

function clients() {
  const base = {
    client_secret: CLIENT_SECRET,
    redirect_uris: REDIRECT_URIS,
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
  };
  return [
    { ...base, client_id: CLIENT_ID, token_endpoint_auth_method: 'client_secret_basic' },
    {
      ...base,
      client_id: `${CLIENT_ID}-es256`,
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: 'ES256',
    },
    { ...base, client_id: `${CLIENT_ID}-post`, token_endpoint_auth_method: 'client_secret_post' },
    {
      client_id: `${CLIENT_ID}-public`,
      redirect_uris: REDIRECT_URIS,
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    },
  ];
}

function makeProvider(issuer) {
  const provider = new Provider(issuer, {
    clients: clients(),
    jwks: { keys: [rsa.jwk, ec.jwk] },
    cookies: { keys: [randomBytes(32).toString('hex')] },
    claims: {
      openid: ['sub'],
      profile: ['name', 'preferred_username'],
      email: ['email', 'email_verified'],
    },
    // Put the scopes' claims in the ID token itself: mcpgate reads name and
    // email from there and never calls userinfo.
    conformIdTokenClaims: false,
    async findAccount(ctx, id) {
      if (!USERS[id]) return undefined;
      return {
        accountId: id,
        async claims() {
          return { sub: id, ...USERS[id], email_verified: USERS[id].email !== undefined };
        },
      };
    },
    features: { devInteractions: { enabled: false } },
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    pkce: { required: () => true },
    async renderError(ctx, out) {
      ctx.type = 'text/plain';
      ctx.body = `test idp error: ${out.error}: ${out.error_description ?? ''}\n`;
    },
  });
  provider.use(misbehave(issuer));
  return provider;
}

// Koa middleware around the provider's own routes.
function misbehave(issuer) {
  return async (ctx, next) => {
    if (state.mode === 'down') {
      ctx.respond = false;
      ctx.req.socket.destroy();
      return;
    }
    if (state.mode === 'unavailable') {
      ctx.status = 503;
      ctx.body = 'test idp: unavailable\n';
      return;
    }
    if (ctx.path === '/token' && state.mode === 'token_error') {
      ctx.status = 400;
      ctx.body = { error: 'invalid_grant', error_description: 'test idp: token_error mode' };
      return;
    }
    if (ctx.path === '/token' && state.mode === 'slow') {
      await new Promise((resolve) => { setTimeout(resolve, 8000); });
    }
    await next();
    if (ctx.path === '/token' && ctx.status === 200 && ctx.body?.id_token) {
      ctx.body = { ...ctx.body, id_token: tamper(ctx.body.id_token, issuer) };
    } else if (ctx.path === '/jwks' && state.mode === 'rotate' && ctx.body?.keys) {
      ctx.body = { keys: [...ctx.body.keys, publicJwk(rotated)] };
    } else if (ctx.path === '/.well-known/openid-configuration' && ctx.body
      && state.mode === 'wrong_discovery_issuer') {
      ctx.body = { ...ctx.body, issuer: `${issuer}/other` };
    }
  };
}

function loginForm(res, uid, user) {
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  res.end(`<!doctype html><title>Test IdP login</title>
<form method="post" action="/interaction/${uid}">
<label>User <input name="login" value="${USERS[user] ? user : state.user}" autofocus></label>
<button type="submit">Sign in</button></form>`);
}

async function readForm(req) {
  let body = '';
  for await (const chunk of req) {
    body += chunk;
    if (body.length > 4096) break;
  }
  return new URLSearchParams(body);
}

// The only interaction: log a user in (no password) and grant what the
// client asked for.  The user is ?login_hint= when it names a test user,
// else the current one (IDP_USER, /__test/user/<name>); with
// IDP_INTERACTIVE=1 a form asks for the name first.
async function interaction(provider, req, res, uid) {
  const details = await provider.interactionDetails(req, res);
  const { prompt, params } = details;
  if (state.mode === 'deny') {
    return provider.interactionFinished(req, res, {
      error: 'access_denied', error_description: 'the test provider denies this login',
    }, { mergeWithLastSubmission: false });
  }
  if (prompt.name === 'login') {
    let user = USERS[params.login_hint] ? params.login_hint : state.user;
    if (state.interactive && req.method === 'GET') return loginForm(res, uid, user);
    if (req.method === 'POST') user = (await readForm(req)).get('login') ?? '';
    if (!USERS[user]) return loginForm(res, uid, state.user);
    return provider.interactionFinished(req, res, { login: { accountId: user } },
      { mergeWithLastSubmission: false });
  }
  const grant = details.grantId
    ? await provider.Grant.find(details.grantId)
    : new provider.Grant({ accountId: details.session.accountId, clientId: params.client_id });
  const missing = prompt.details;
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
  for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
    grant.addResourceScope(indicator, scopes.join(' '));
  }
  const grantId = await grant.save();
  return provider.interactionFinished(req, res, { consent: { grantId } },
    { mergeWithLastSubmission: true });
}

// GET /__test/mode/<mode>, /__test/user/<name>, /__test/state.
function control(res, path) {
  const [, , what, value] = path.split('/');
  if (what === 'mode' && MODES.has(value)) state.mode = value;
  else if (what === 'user' && USERS[value]) state.user = value;
  else if (what !== 'state') {
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end(`unknown: ${path}\nmodes: ${[...MODES].join(' ')}\nusers: ${Object.keys(USERS).join(' ')}\n`);
    return;
  }
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(`${JSON.stringify({ mode: state.mode, user: state.user })}\n`);
}

let provider;
let handler;
const server = http.createServer((req, res) => {
  const path = new URL(req.url, 'http://x').pathname;
  if (path.startsWith('/__test/')) return control(res, path);
  const m = /^\/interaction\/([\w-]+)$/.exec(path);
  if (m && state.mode !== 'down' && state.mode !== 'unavailable') {
    return interaction(provider, req, res, m[1]).catch((err) => {
      process.stderr.write(`idp: interaction failed: ${err.message}\n`);
      if (!res.headersSent) res.writeHead(400, { 'content-type': 'text/plain' });
      res.end('test idp: interaction failed\n');
    });
  }
  return handler(req, res);
});

server.listen(PORT, HOST, () => {
  const { port } = server.address();
  const host = HOST.includes(':') ? `[${HOST}]` : HOST;
  const issuer = `http://${host}:${port}`;
  provider = makeProvider(issuer);
  handler = provider.callback();
  process.stdout.write(`${issuer}\n`);
  process.stderr.write(`idp: ${issuer} clients=${CLIENT_ID}{,-es256,-post,-public} `
    + `redirect_uris=${REDIRECT_URIS.join(',')} mode=${state.mode} user=${state.user}\n`);
});

for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => { server.close(); process.exit(0); });
}
