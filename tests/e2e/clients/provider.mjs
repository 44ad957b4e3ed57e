// An OAuthClientProvider for @modelcontextprotocol/sdk that keeps its
// state in memory and does the browser part itself (browser.mjs), so the
// SDK runs its whole OAuth flow unattended: discovery from the 401, dynamic
// registration, PKCE, the authorization request, and later refresh.
//
// Everything the SDK hands over is kept unchanged (the SDK stamps client
// information and tokens with the issuer and wants them back as given).
// Counters let tests check what happened: how often the SDK sent the user
// to the authorization endpoint, saved tokens, registered.

import { randomBytes } from 'node:crypto';

import { Browser } from './browser.mjs';

export class TestOAuthProvider {
  // redirectUrl: the client's loopback redirect URI (nobody listens there).
  // browser: a Browser; scope: the client metadata's fallback scope.
  constructor({ redirectUrl, browser, clientName = 'mcpgate e2e (MCP SDK)', log } = {}) {
    this._redirectUrl = redirectUrl;
    this.browser = browser ?? new Browser();
    this.clientName = clientName;
    this.log = log ?? (() => {});
    this._client = undefined;
    this._tokens = undefined;
    this._verifier = undefined;
    this._state = undefined;
    this._discovery = undefined;
    this.authorizations = []; // one per redirectToAuthorization, with the browser's result
    this.savedTokens = []; // every token set the SDK saved, in order
    this.registrations = 0;
    this.invalidated = [];
  }

  get redirectUrl() {
    return this._redirectUrl;
  }

  get clientMetadata() {
    return {
      client_name: this.clientName,
      redirect_uris: [this._redirectUrl],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    };
  }

  state() {
    this._state = randomBytes(16).toString('base64url');
    return this._state;
  }

  clientInformation() {
    return this._client;
  }

  saveClientInformation(info) {
    if (!this._client || this._client.client_id !== info.client_id) this.registrations++;
    this._client = info;
  }

  tokens() {
    return this._tokens;
  }

  saveTokens(tokens) {
    this._tokens = tokens;
    this.savedTokens.push(tokens);
  }

  saveCodeVerifier(v) {
    this._verifier = v;
  }

  codeVerifier() {
    if (!this._verifier) throw new Error('no code verifier saved');
    return this._verifier;
  }

  saveDiscoveryState(s) {
    this._discovery = s;
  }

  discoveryState() {
    return this._discovery;
  }

  invalidateCredentials(scope) {
    this.invalidated.push(scope);
    if (scope === 'all' || scope === 'client') this._client = undefined;
    if (scope === 'all' || scope === 'tokens') this._tokens = undefined;
    if (scope === 'all' || scope === 'verifier') this._verifier = undefined;
    if (scope === 'all' || scope === 'discovery') this._discovery = undefined;
  }

  // The user's browser: runs now, to the end, and leaves the result for
  // the test, which hands the code to the transport's finishAuth().
  async redirectToAuthorization(url) {
    const sentState = this._state;
    this.log(`authorization URL: ${url}`);
    const r = await this.browser.authorize(url, this._redirectUrl);
    r.url = new URL(url);
    r.sentState = sentState;
    this.authorizations.push(r);
    this.log(`authorization result: code=${r.code ? 'yes' : 'no'} error=${r.error ?? ''} `
      + `consent pages=${r.consentPages} idp pages=${r.idpPages}`);
  }

  get lastAuthorization() {
    return this.authorizations[this.authorizations.length - 1];
  }
}

// A loopback redirect URI on a port nobody listens on (RFC 8252 §7.3).
export function loopbackRedirect() {
  const port = 20000 + Math.floor(Math.random() * 40000);
  return `http://127.0.0.1:${port}/callback`;
}
