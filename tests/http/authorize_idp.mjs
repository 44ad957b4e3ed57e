// A scriptable OpenID provider for tests/http/authorize_oidc.t: just enough
// OIDC (discovery, JWKS, authorization endpoint, token endpoint with PKCE and
// client_secret_basic, RS256 ID tokens) to drive mcpgate's callback, and a
// switch to make it misbehave the ways the callback must survive.
//
//   node authorize_idp.mjs PORTFILE CLIENT_ID CLIENT_SECRET
// listens on 127.0.0.1 (a free port, written to PORTFILE) and serves
//   GET  /.well-known/openid-configuration, /jwks
//   GET  /authorize      answers at once as user "alice" (no login page)
//   POST /token
//   GET  /mode?m=MODE    how the next logins go:
//        ok | deny | unavailable | weird_error | bad_nonce | bad_sig |
//        bad_aud | expired | token_500 | wrong_iss | no_iss | no_code |
//        bob (signs in another user, "bob")
//   GET  /last           the last authorization request's query, as JSON
// Only node's standard library is used.
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';

const [portFile, clientId, clientSecret] = process.argv.slice(2);
const key = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const rogue = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const kid = 'test-key-1';
const codes = new Map();
let mode = 'ok';
let last = {};
let issuer = '';

const b64u = (v) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

function idToken(claims, signer) {
	const input = `${b64u({ alg: 'RS256', typ: 'JWT', kid })}.${b64u(claims)}`;
	const sig = crypto.sign('sha256', Buffer.from(input), signer.privateKey).toString('base64url');
	return `${input}.${sig}`;
}

function send(res, status, body, headers = {}) {
	const text = typeof body === 'string' ? body : JSON.stringify(body);
	res.writeHead(status, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store',
		...headers });
	res.end(text);
}

function authorize(res, q) {
	last = Object.fromEntries(q);
	const back = new URL(q.get('redirect_uri'));
	const add = (k, v) => back.searchParams.set(k, v);
	add('state', q.get('state'));
	const errors = { deny: 'access_denied', unavailable: 'temporarily_unavailable',
		weird_error: 'invalid_scope' };
	if (errors[mode]) {
		add('error', errors[mode]);
		add('error_description', 'the user said no" forged="yes');
	} else if (mode !== 'no_code') {
		const code = crypto.randomBytes(24).toString('base64url');
		codes.set(code, { nonce: q.get('nonce'), challenge: q.get('code_challenge'),
			redirect: q.get('redirect_uri'), mode });
		add('code', code);
	}
	if (mode === 'wrong_iss')
		add('iss', 'https://evil.example');
	else if (mode !== 'no_iss')
		add('iss', issuer);
	res.writeHead(302, { Location: back.toString() });
	res.end();
}

function token(req, res, body) {
	const f = new URLSearchParams(body);
	// RFC 6749 §2.3.1: form-urlencoded id and secret, then Basic.
	const basic = /^Basic (.+)$/.exec(req.headers.authorization || '');
	const pair = basic ? Buffer.from(basic[1], 'base64').toString() : '';
	const dec = (v) => decodeURIComponent(v.replace(/\+/g, ' '));
	const i = pair.indexOf(':');
	const c = codes.get(f.get('code'));
	codes.delete(f.get('code'));
	if (i < 0 || dec(pair.slice(0, i)) !== clientId || dec(pair.slice(i + 1)) !== clientSecret)
		return send(res, 401, { error: 'invalid_client' });
	if (!c || f.get('redirect_uri') !== c.redirect)
		return send(res, 400, { error: 'invalid_grant' });
	const s256 = crypto.createHash('sha256').update(f.get('code_verifier') || '').digest('base64url');
	if (s256 !== c.challenge)
		return send(res, 400, { error: 'invalid_grant', error_description: 'PKCE' });
	if (c.mode === 'token_500')
		return send(res, 500, 'oops', { 'Content-Type': 'text/plain' });
	const now = Math.floor(Date.now() / 1000);
	const claims = { iss: issuer, sub: 'alice-sub-1', aud: clientId, iat: now, exp: now + 300,
		nonce: c.nonce, name: 'Alice Example', email: 'alice@example.org' };
	if (c.mode === 'bob')
		Object.assign(claims, { sub: 'bob-sub-2', name: 'Bob Example', email: 'bob@example.org' });
	if (c.mode === 'bad_nonce')
		claims.nonce = 'not-the-nonce';
	if (c.mode === 'bad_aud')
		claims.aud = 'someone-else';
	if (c.mode === 'expired') {
		claims.iat = now - 7200;
		claims.exp = now - 3600;
	}
	send(res, 200, { access_token: `upstream-at-${crypto.randomBytes(8).toString('hex')}`,
		token_type: 'Bearer', expires_in: 300,
		id_token: idToken(claims, c.mode === 'bad_sig' ? rogue : key) });
}

const server = http.createServer((req, res) => {
	const u = new URL(req.url, issuer);
	let body = '';
	req.on('data', (d) => { body += d; });
	req.on('end', () => {
		switch (u.pathname) {
		case '/.well-known/openid-configuration':
			return send(res, 200, { issuer, authorization_endpoint: `${issuer}/authorize`,
				token_endpoint: `${issuer}/token`, jwks_uri: `${issuer}/jwks`,
				response_types_supported: ['code'], subject_types_supported: ['public'],
				id_token_signing_alg_values_supported: ['RS256'],
				token_endpoint_auth_methods_supported: ['client_secret_basic'],
				code_challenge_methods_supported: ['S256'],
				authorization_response_iss_parameter_supported: true });
		case '/jwks':
			return send(res, 200, { keys: [{ ...key.publicKey.export({ format: 'jwk' }), kid,
				use: 'sig', alg: 'RS256' }] });
		case '/authorize':
			return authorize(res, u.searchParams);
		case '/token':
			return token(req, res, body);
		case '/mode':
			mode = u.searchParams.get('m') || 'ok';
			return send(res, 200, { mode });
		case '/last':
			return send(res, 200, last);
		default:
			return send(res, 404, { error: 'not_found' });
		}
	});
});
server.listen(0, '127.0.0.1', () => {
	issuer = `http://127.0.0.1:${server.address().port}`;
	fs.writeFileSync(portFile, `${server.address().port}\n`);
});
process.on('SIGTERM', () => process.exit(0));
