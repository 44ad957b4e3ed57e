#!/usr/bin/env bash
# The consent page in a real browser (headless Chromium driven by
# playwright-core), through lighttpd with identity = remote-user:
#   - the page renders (screenshots: desktop, phone, phone in dark mode, in
#     tests/out/consent_page/);
#   - Approve lands on the client's redirect URI with a code, state and iss;
#   - a second authorization by the approved client skips the page (the
#     signed __Host- cookie works in a real browser on http://127.0.0.1);
#   - Deny lands on the redirect URI with error=access_denied;
#   - a cross-origin page cannot frame the consent page.
. "$(dirname "${BASH_SOURCE[0]}")/../lib/servers.sh"

E2E_DIR=$MCPGATE_ROOT/tests/e2e
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}

if [ ! -x "$CHROMIUM" ]; then
	skip "consent page in Chromium" "no $CHROMIUM (apt-get install chromium)"
	done_testing
	exit
fi
if [ ! -d "$E2E_DIR/node_modules/playwright-core" ]; then
	skip "consent page in Chromium" "playwright-core not installed (npm ci in tests/e2e)"
	done_testing
	exit
fi

# A static client whose redirect URI is a loopback one (any port, RFC 8252).
clients=$TEST_OUT/clients.json
cat >"$clients" <<'EOF'
[{"client_id": "e2e-desktop-app", "client_name": "Snippet Desk",
  "client_uri": "https://snippetdesk.example/",
  "redirect_uris": ["http://127.0.0.1/callback"],
  "token_endpoint_auth_method": "none"}]
EOF
htpasswd=$TEST_OUT/htpasswd
printf '%s\n' 'e2e-password' | htpasswd -iBc "$htpasswd" alice 2>/dev/null
chmod 0644 "$clients" "$htpasswd"
chmod 0755 "$TEST_OUT"

start_lighttpd --htpasswd "$htpasswd" --conf-line "static_clients_file = $clients" \
	--conf-line "server_name = Acme Snippets"

# The browser part: a tiny client (the redirect target and an attacker page
# that frames the consent page) and Chromium.  It prints TAP-ish lines
# "RESULT <0|1> <description>" that are turned into tests below.
out=$(cd "$E2E_DIR" && SRV_URL=$SRV_URL SRV_PUBLIC_URL=$SRV_PUBLIC_URL CHROMIUM=$CHROMIUM \
	SHOT_DIR=$TEST_OUT timeout 90 node --input-type=module 2>"$TEST_OUT/node.log" <<'EOF'
import http from 'node:http';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

const env = process.env;
const result = (good, desc) => console.log(`RESULT ${good ? 0 : 1} ${desc}`);
const b64url = (b) => b.toString('base64url');

// The client: /callback records what it gets; /attack frames the consent page.
let consentUrl = '';
const client = http.createServer((req, res) => {
	const u = new URL(req.url, 'http://127.0.0.1');
	if (u.pathname === '/attack') {
		res.writeHead(200, { 'Content-Type': 'text/html' });
		res.end(`<!DOCTYPE html><title>attacker</title><iframe id="f" src="${consentUrl}"` +
			` width="600" height="600"></iframe>`);
		return;
	}
	res.writeHead(200, { 'Content-Type': 'text/plain' });
	res.end('client got the answer');
});
await new Promise((r) => client.listen(0, '127.0.0.1', r));
const redirectUri = `http://127.0.0.1:${client.address().port}/callback`;

function authorizeUrl(state) {
	const verifier = b64url(crypto.randomBytes(32));
	const challenge = b64url(crypto.createHash('sha256').update(verifier).digest());
	const q = new URLSearchParams({
		response_type: 'code', client_id: 'e2e-desktop-app', redirect_uri: redirectUri,
		scope: 'snippets:read snippets:write', state, code_challenge: challenge,
		code_challenge_method: 'S256', resource: `${env.SRV_PUBLIC_URL}/mcp` });
	return `${env.SRV_URL}/oauth/authorize?${q}`;
}

// A fresh profile per run; playwright-core takes it as userDataDir (it
// refuses a --user-data-dir argument), so the browser runs as one
// persistent context, and "a fresh browser" below means clearing cookies.
const userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mcpgate-chromium-'));
const ctx = await chromium.launchPersistentContext(userDir, {
	executablePath: env.CHROMIUM,
	headless: true,
	args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
		'--disable-background-networking', '--disable-component-update', '--disable-sync'],
	httpCredentials: { username: 'alice', password: 'e2e-password' },
	viewport: { width: 1280, height: 900 },
});

try {
	// 1. The page, then Approve.
	const page = await ctx.newPage();
	let resp = await page.goto(authorizeUrl('state-approve-1'));
	consentUrl = page.url();
	result(resp.status() === 200 && /\/oauth\/consent\?txn=/.test(consentUrl),
		'authorize shows the consent page');
	result((await page.locator('h1').innerText()).includes('Snippet Desk'), 'page names the client');
	result((await page.locator('.host').innerText()) === '127.0.0.1',
		'redirect host shown prominently');
	result(await page.locator('.warn').isVisible(), 'loopback warning shown');
	result((await page.locator('li').count()) === 2, 'both scopes listed');
	const csp = resp.headers()['content-security-policy'] || '';
	result(/frame-ancestors 'none'/.test(csp), 'CSP forbids framing');
	const styleOk = await page.evaluate(() =>
		getComputedStyle(document.querySelector('button.approve')).backgroundColor);
	result(styleOk !== 'rgba(0, 0, 0, 0)' && styleOk !== '', `stylesheet applied under the CSP (${styleOk})`);
	await page.screenshot({ path: `${env.SHOT_DIR}/consent-desktop.png`, fullPage: true });
	await page.setViewportSize({ width: 390, height: 844 });
	const overflow = await page.evaluate(() =>
		document.documentElement.scrollWidth > window.innerWidth);
	result(!overflow, 'no horizontal scrolling on a phone');
	await page.screenshot({ path: `${env.SHOT_DIR}/consent-phone.png`, fullPage: true });
	await page.emulateMedia({ colorScheme: 'dark' });
	await page.screenshot({ path: `${env.SHOT_DIR}/consent-phone-dark.png`, fullPage: true });
	await page.emulateMedia({ colorScheme: 'light' });
	await page.setViewportSize({ width: 1280, height: 900 });

	await Promise.all([page.waitForURL((u) => u.href.startsWith(redirectUri)),
		page.click('button.approve')]);
	let u = new URL(page.url());
	result(/^[A-Za-z0-9_-]{43}$/.test(u.searchParams.get('code') || ''),
		'Approve lands on the redirect URI with a code');
	result(u.searchParams.get('state') === 'state-approve-1', 'with the client state');
	result(u.searchParams.get('iss') === env.SRV_PUBLIC_URL, 'with iss');
	const cookies = await ctx.cookies(env.SRV_URL);
	const c = cookies.find((k) => k.name.startsWith('__Host-mcpgate-consent-'));
	result(c && c.secure && c.httpOnly && c.sameSite === 'Lax' && c.path === '/',
		'Chromium kept the __Host- consent cookie on http://127.0.0.1');

	// 2. The same client again: no page, straight back with a code.
	await page.goto(authorizeUrl('state-again-2'));
	u = new URL(page.url());
	result(page.url().startsWith(redirectUri) && u.searchParams.get('code') &&
		u.searchParams.get('state') === 'state-again-2',
		'second authorization skips the page and completes');

	// 3. Deny, with the remembered approval forgotten.
	await ctx.clearCookies();
	await page.goto(authorizeUrl('state-deny-3'));
	await Promise.all([page.waitForURL((x) => x.href.startsWith(redirectUri)),
		page.click('button.deny')]);
	u = new URL(page.url());
	result(u.searchParams.get('error') === 'access_denied' && !u.searchParams.get('code'),
		'Deny lands on the redirect URI with error=access_denied');
	result(u.searchParams.get('state') === 'state-deny-3' &&
		u.searchParams.get('iss') === env.SRV_PUBLIC_URL, 'with state and iss');

	// 4. Framing: a page on another origin tries to show the consent page.
	await page.goto(authorizeUrl('state-frame-4'));
	consentUrl = page.url();
	await page.goto(`http://127.0.0.1:${client.address().port}/attack`);
	await page.waitForTimeout(1500);
	const frame = page.frames().find((f) => f !== page.mainFrame());
	let framed = false;
	try {
		framed = frame && (await frame.locator('button.approve').count()) > 0;
	} catch (e) {
		framed = false;
	}
	result(frame !== undefined && !framed, 'a cross-origin page cannot frame the consent page');
} catch (e) {
	result(false, `browser run failed: ${e.message.split('\n')[0]}`);
} finally {
	await ctx.close();
	client.close();
	fs.rmSync(userDir, { recursive: true, force: true });
}
EOF
)
rc=$?
n=0
while IFS= read -r line; do
	case $line in
	"RESULT "*)
		n=$((n + 1))
		rest=${line#RESULT }
		ok "${rest%% *}" "${rest#* }"
		;;
	esac
done <<<"$out"
ok $(( n >= 10 ? 0 : 1 )) "the browser run completed (exit $rc, $n checks)"
[ "$n" -ge 10 ] || diag "$(tail -n 20 "$TEST_OUT/node.log")"
for f in consent-desktop.png consent-phone.png consent-phone-dark.png; do
	[ -s "$TEST_OUT/$f" ]
	ok $? "screenshot tests/out/$TEST_NAME/$f"
done
done_testing
