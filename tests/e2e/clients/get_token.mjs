#!/usr/bin/env node
// Obtain an access token for an MCP endpoint the way a stock client does,
// with the MCP SDK's auth(): discovery, dynamic registration, authorize with
// PKCE, consent (Approve) and login in browser.mjs, code redeemed.
//
//   node get_token.mjs --url <public_url>/mcp [--basic user:password]
//
// Prints the token response (JSON: access_token, refresh_token, expires_in,
// scope, client_id) on stdout; diagnostics on stderr; exit 1 on failure.

import { parseArgs } from 'node:util';

import { auth } from '@modelcontextprotocol/sdk/client/auth.js';

import { Browser } from './browser.mjs';
import { TestOAuthProvider, loopbackRedirect } from './provider.mjs';

const { values: args } = parseArgs({
  options: {
    url: { type: 'string' },
    basic: { type: 'string' },
    verbose: { type: 'boolean', default: false },
  },
});
if (!args.url) {
  process.stderr.write('usage: get_token.mjs --url URL [--basic user:password]\n');
  process.exit(2);
}
const timer = setTimeout(() => {
  process.stderr.write('get_token: timed out\n');
  process.exit(1);
}, 30000);
timer.unref();

const url = new URL(args.url);
const log = args.verbose ? (m) => process.stderr.write(`${m}\n`) : () => {};
let basic;
if (args.basic) {
  const i = args.basic.indexOf(':');
  basic = { origin: url.origin, user: args.basic.slice(0, i), password: args.basic.slice(i + 1) };
}
const provider = new TestOAuthProvider({
  redirectUrl: loopbackRedirect(),
  browser: new Browser({ basic, log }),
  clientName: 'mcpgate e2e (token helper)',
  log,
});

// Ask the endpoint first, as a client would: its 401 names the metadata.
const probe = await fetch(url, {
  method: 'POST',
  headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
  body: '{"jsonrpc":"2.0","id":1,"method":"ping"}',
});
const www = probe.headers.get('www-authenticate') ?? '';
const rm = /resource_metadata="([^"]+)"/.exec(www);
const scope = /scope="([^"]*)"/.exec(www)?.[1];
if (probe.status !== 401 || !rm) {
  process.stderr.write(`get_token: expected a 401 with resource_metadata, got ${probe.status} "${www}"\n`);
  process.exit(1);
}
try {
  const opts = { serverUrl: url, resourceMetadataUrl: new URL(rm[1]), scope };
  const first = await auth(provider, opts);
  const a = provider.lastAuthorization;
  if (first !== 'REDIRECT' || !a?.code) throw new Error(`authorization failed: ${JSON.stringify(a ?? first)}`);
  const second = await auth(provider, { ...opts, authorizationCode: a.code });
  if (second !== 'AUTHORIZED') throw new Error(`code not redeemed: ${second}`);
} catch (e) {
  process.stderr.write(`get_token: ${e.stack ?? e}\n`);
  process.exit(1);
}
const t = provider.tokens();
process.stdout.write(`${JSON.stringify({
  access_token: t.access_token,
  refresh_token: t.refresh_token,
  expires_in: t.expires_in,
  scope: t.scope,
  client_id: provider.clientInformation()?.client_id,
})}\n`);
process.exit(0);
