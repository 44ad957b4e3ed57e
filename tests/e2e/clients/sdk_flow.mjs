#!/usr/bin/env node
// The official MCP TypeScript SDK client against mcpgate, with nothing
// prepared in advance: it meets the 401, discovers the protected resource
// and authorization server metadata, registers itself (RFC 7591), sends the
// user through authorize -> consent -> (upstream login) -> callback with
// PKCE, redeems the code, and then uses the snippet tools.  Then:
//   - a second authorization by the same, already approved client, which
//     must skip the consent page and still complete;
//   - with --expire-wait S: the access token runs out (the server's
//     access_token_ttl is short) and the SDK refreshes it by itself.
//
//   node sdk_flow.mjs --url <public_url>/mcp --transport streamable|sse
//        [--basic user:password] [--idp ISSUER] [--user-re REGEX]
//        [--expire-wait SECONDS] [--label TEXT] [--verbose]
//
// --basic: identity = remote-user, the browser logs in with HTTP Basic;
// --idp: identity = oidc, the browser must pass through that provider.
//
// Prints "ok - ..." / "not ok - ..." lines (tap.mjs); exit status 0 when all passed.

import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

import { Browser } from './browser.mjs';
import { TestOAuthProvider, loopbackRedirect } from './provider.mjs';
import { deadline, diag, failures, is, like, ok, setPrefix } from './tap.mjs';

const { values: args } = parseArgs({
  options: {
    url: { type: 'string' },
    transport: { type: 'string', default: 'streamable' },
    basic: { type: 'string' },
    'user-re': { type: 'string', default: '.' },
    'expire-wait': { type: 'string' },
    idp: { type: 'string' },
    label: { type: 'string' },
    verbose: { type: 'boolean', default: false },
  },
});
if (!args.url || !['streamable', 'sse'].includes(args.transport)) {
  process.stderr.write('usage: sdk_flow.mjs --url URL --transport streamable|sse [...]\n');
  process.exit(2);
}
const MCP_URL = new URL(args.url);
const SSE = args.transport === 'sse';
const log = args.verbose ? (m) => diag(m) : () => {};
setPrefix(args.label ?? args.transport);
deadline(100000, 'the SDK flow');

// Every request the SDK makes, for checking what it did.
const requests = [];
async function loggingFetch(url, init = {}) {
  const entry = { method: init.method ?? 'GET', url: String(url) };
  if (init.body instanceof URLSearchParams || typeof init.body === 'string') {
    entry.body = String(init.body);
  }
  requests.push(entry);
  const res = await fetch(url, init);
  entry.status = res.status;
  log(`sdk: ${entry.method} ${entry.url} -> ${res.status}`);
  return res;
}
const sent = (method, re) => requests.filter((r) => r.method === method && re.test(r.url));

let basic;
if (args.basic) {
  const i = args.basic.indexOf(':');
  basic = { origin: MCP_URL.origin, user: args.basic.slice(0, i), password: args.basic.slice(i + 1) };
}
const browser = new Browser({ basic, log });
const provider = new TestOAuthProvider({ redirectUrl: loopbackRedirect(), browser, log });

function newTransport() {
  const opts = { authProvider: provider, fetch: loggingFetch };
  return SSE ? new SSEClientTransport(MCP_URL, opts) : new StreamableHTTPClientTransport(MCP_URL, opts);
}

function newClient() {
  return new Client({ name: 'mcpgate-e2e', version: '1.0.0' });
}

// connect, expecting the SDK to send the user to authorize first; then
// finishAuth with the browser's code and connect again.  Returns the client
// and transport, or undefined.
async function connectThroughAuthorization(what) {
  let client = newClient();
  let transport = newTransport();
  let err;
  try {
    await client.connect(transport);
  } catch (e) {
    err = e;
  }
  await transport.close().catch(() => {});
  if (!ok(err instanceof UnauthorizedError, `${what}: the SDK meets the 401 and goes to authorize`,
    err ? String(err.stack ?? err) : 'connected without authorization')) return undefined;
  const a = provider.lastAuthorization;
  if (!ok(a?.code, `${what}: the browser comes back with a code`, a)) return undefined;
  try {
    await transport.finishAuth(a.code);
    ok(true, `${what}: finishAuth redeems the code`);
  } catch (e) {
    ok(false, `${what}: finishAuth redeems the code`, String(e.stack ?? e));
    return undefined;
  }
  client = newClient();
  transport = newTransport();
  try {
    await client.connect(transport);
    ok(true, `${what}: connected with the access token`);
  } catch (e) {
    ok(false, `${what}: connected with the access token`, String(e.stack ?? e));
    return undefined;
  }
  return { client, transport };
}

const text = (r) => (r?.content ?? []).filter((c) => c.type === 'text').map((c) => c.text).join('\n');

async function call(client, name, argsObj = {}) {
  try {
    return await client.callTool({ name, arguments: argsObj });
  } catch (e) {
    return { error: String(e.stack ?? e) };
  }
}

async function useTools(client, tag) {
  const list = await client.listTools().catch((e) => ({ error: String(e) }));
  const names = (list.tools ?? []).map((t) => t.name).sort();
  is(names.join(','), 'delete_snippet,get_snippet,hello_mcp,list_snippets,save_snippet',
    `${tag}tools/list: the five tools`);
  const save = (list.tools ?? []).find((t) => t.name === 'save_snippet');
  ok(save?.inputSchema?.required?.includes('snippetname') && save?.inputSchema?.required?.includes('snippet'),
    `${tag}save_snippet's inputSchema requires snippetname and snippet`, save?.inputSchema);

  const hello = await call(client, 'hello_mcp');
  ok(!hello.error && !hello.isError, `${tag}hello_mcp succeeds`, hello);
  like(text(hello), new RegExp(args['user-re']), `${tag}hello_mcp greets the signed-in user`);

  const name = `e2e-${args.transport}-${randomBytes(4).toString('hex')}`;
  const content = `line 1 ✓ ${name}\n<b>"quoted"</b> & 😀`;
  const saved = await call(client, 'save_snippet', { snippetname: name, snippet: content });
  ok(!saved.error && !saved.isError, `${tag}save_snippet succeeds`, saved);
  ok(text(saved).includes(name), `${tag}save_snippet's reply names the snippet`, text(saved));
  ok(!text(saved).includes('😀'), `${tag}save_snippet's reply does not echo the content`, text(saved));

  const got = await call(client, 'get_snippet', { snippetname: name });
  ok(!got.error && !got.isError, `${tag}get_snippet succeeds`, got);
  is(text(got), content, `${tag}get_snippet returns the content exactly`);

  const listed = await call(client, 'list_snippets');
  ok(!listed.error && !listed.isError, `${tag}list_snippets succeeds`, listed);
  ok(text(listed).includes(name) || JSON.stringify(listed.structuredContent ?? {}).includes(name),
    `${tag}list_snippets lists it`, listed);

  const del = await call(client, 'delete_snippet', { snippetname: name });
  ok(!del.error && !del.isError, `${tag}delete_snippet succeeds`, del);
  const gone = await call(client, 'get_snippet', { snippetname: name });
  ok(!gone.error && gone.isError === true, `${tag}get_snippet after delete: a tool error, not a protocol error`, gone);
  like(text(gone), /no snippet named/, `${tag}get_snippet after delete: "no snippet named ..."`);
  const listedAgain = await call(client, 'list_snippets');
  ok(!text(listedAgain).includes(name), `${tag}list_snippets no longer lists it`, listedAgain);
}

async function close(c) {
  if (!c) return;
  await c.client.close().catch(() => {});
}

// --- 1. the first connection: discovery, registration, consent, code -----------------
const first = await connectThroughAuthorization('first authorization');
const prm = sent('GET', /\/\.well-known\/oauth-protected-resource/);
ok(prm.length > 0 && prm[0].status === 200, 'discovery: protected resource metadata fetched after the 401',
  requests.map((r) => `${r.method} ${r.url} ${r.status}`).join('\n'));
const asm = sent('GET', /\/\.well-known\/(oauth-authorization-server|openid-configuration)/)
  .filter((r) => r.status === 200);
ok(asm.length > 0, 'discovery: authorization server metadata fetched');
const reg = sent('POST', /\/oauth\/register$/);
is(reg.map((r) => r.status).join(','), '201', 'dynamic registration: one POST /oauth/register, 201');
is(provider.registrations, 1, 'the SDK saved one client registration');

const a1 = provider.authorizations[0];
if (a1) {
  const q = a1.url.searchParams;
  is(q.get('response_type'), 'code', 'authorization request: response_type=code');
  is(q.get('code_challenge_method'), 'S256', 'authorization request: PKCE S256');
  like(q.get('code_challenge') ?? '', /^[A-Za-z0-9_-]{43}$/, 'authorization request: a code_challenge');
  is(q.get('client_id'), provider.clientInformation()?.client_id, 'authorization request: the registered client_id');
  is(q.get('resource'), args.url.replace(/\/mcp\/sse$/, '/mcp'),
    'authorization request: resource is the MCP endpoint (RFC 8707)');
  is(a1.consentPages, 1, 'first authorization: the consent page is shown once');
  if (args.idp) {
    ok(a1.pages.some((p) => p.startsWith(args.idp)), 'first authorization: the user logs in at the upstream IdP',
      a1.pages);
    const up = a1.pages.find((p) => p.startsWith(`${args.idp}/`) && /[?&]client_id=/.test(p));
    ok(up && new URL(up).searchParams.get('code_challenge') !== q.get('code_challenge'),
      'upstream login: with mcpgate\'s own PKCE, not the client\'s', up);
    ok(a1.pages.indexOf(up) > a1.pages.findIndex((p) => /\/oauth\/consent/.test(p)),
      'upstream login: only after the consent page (confused-deputy rule)', a1.pages);
  } else {
    ok(a1.idpPages === 0, 'first authorization: no other origin involved', a1.pages);
  }
  is(a1.state, a1.sentState, 'authorization response: state comes back unchanged');
  ok(a1.iss && asm.length > 0 && a1.iss === (await (await fetch(asm[0].url)).json()).issuer,
    'authorization response: iss is the authorization server (RFC 9207)', a1.iss);
}
const tokReq = sent('POST', /\/oauth\/token$/);
ok(tokReq.some((r) => /grant_type=authorization_code/.test(r.body ?? '') && /code_verifier=/.test(r.body ?? '')
  && r.status === 200), 'token request: authorization_code with code_verifier, 200',
tokReq.map((r) => `${r.status} ${r.body}`).join('\n'));
const t1 = provider.tokens();
like(t1?.access_token ?? '', /^\S{20,}$/, 'tokens: an access token');
like(t1?.refresh_token ?? '', /^\S{20,}$/, 'tokens: a refresh token');
like(t1?.token_type ?? '', /^bearer$/i, 'tokens: token_type Bearer');
ok(t1 && !('id_token' in t1) && (t1.access_token ?? '').split('.').length !== 3,
  'tokens: mcpgate\'s own, nothing of the upstream IdP\'s (no ID token, no JWT)', t1);

if (first) {
  const v = first.client.getServerVersion();
  ok(v?.name, 'initialize: the server names itself', v);
  ok(first.client.getServerCapabilities()?.tools, 'initialize: the server offers tools');
  await useTools(first.client, '');
  if (!SSE) {
    const sid = first.transport.sessionId;
    like(sid ?? '', /^[!-~]+$/, 'Streamable HTTP: a session id was issued');
    let err;
    await first.transport.terminateSession().catch((e) => { err = e; });
    ok(!err && first.transport.sessionId === undefined, 'Streamable HTTP: DELETE ends the session', String(err));
  }
  await close(first);
}

// --- 2. a second authorization by the approved client ---------------------------------
provider.invalidateCredentials('tokens');
const before = { regs: provider.registrations, client: provider.clientInformation()?.client_id };
const second = await connectThroughAuthorization('second authorization');
const a2 = provider.lastAuthorization;
if (a2 && a2 !== a1) {
  is(a2.consentPages, 0, 'second authorization: the consent page is skipped (approval remembered)');
  ok(a2.code && !a2.error, 'second authorization: completes with a code', a2);
  if (args.idp) ok(a2.idpPages > 0, 'second authorization: through the upstream login again', a2.pages);
}
is(provider.registrations, before.regs, 'second authorization: no new registration');
is(provider.clientInformation()?.client_id, before.client, 'second authorization: the same client_id');
if (second) {
  const r = await call(second.client, 'list_snippets');
  ok(!r.error && !r.isError, 'second authorization: tools work with the new token', r);
}

// --- 3. refresh when the access token runs out ---------------------------------------------
const wait = Number(args['expire-wait'] ?? 0);
if (wait > 0 && second) {
  const old = provider.tokens();
  const browserVisits = provider.authorizations.length;
  const refreshesBefore = sent('POST', /\/oauth\/token$/).filter((r) => /grant_type=refresh_token/.test(r.body ?? '')).length;
  if (SSE) await close(second); // the server ends the stream when the token expires
  diag(`waiting ${wait} s for the access token to expire`);
  await sleep(wait * 1000);
  let client = second.client;
  if (SSE) {
    client = newClient();
    try {
      await client.connect(newTransport());
      ok(true, 'after expiry: a new SSE connection succeeds without the browser');
    } catch (e) {
      ok(false, 'after expiry: a new SSE connection succeeds without the browser', String(e.stack ?? e));
    }
  }
  const r = await call(client, 'hello_mcp');
  ok(!r.error && !r.isError, 'after expiry: hello_mcp succeeds (the SDK refreshed the token)', r);
  const refreshes = sent('POST', /\/oauth\/token$/).filter((q) => /grant_type=refresh_token/.test(q.body ?? ''));
  ok(refreshes.length > refreshesBefore && refreshes[refreshes.length - 1].status === 200,
    'after expiry: the SDK used grant_type=refresh_token, 200', refreshes);
  const now = provider.tokens();
  ok(now?.access_token && now.access_token !== old?.access_token, 'after expiry: a new access token');
  ok(now?.refresh_token && now.refresh_token !== old?.refresh_token, 'after expiry: the refresh token was rotated');
  is(provider.authorizations.length, browserVisits, 'after expiry: no new trip through the browser');
  await client.close().catch(() => {});
} else if (second) {
  await close(second);
}

process.exit(failures() ? 1 : 0);
