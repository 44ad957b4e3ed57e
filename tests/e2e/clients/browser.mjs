// A minimal user agent for the authorization step of the end-to-end tests:
// what a person's browser does between the MCP client opening the
// authorization URL and the redirect back to the client.
//
//   const b = new Browser({ basic: { origin, user, password } });
//   const r = await b.authorize(authorizationUrl, redirectUri);
//   // r.code, r.state, r.iss, r.error, r.pages (URLs visited), r.consentPages
//
// It follows redirects by hand with a cookie jar (the __Host- consent and
// login cookies must come back as a browser would send them), answers HTTP
// Basic challenges on the one origin it was given credentials for
// (identity = remote-user), submits the consent form's Approve with its
// CSRF token the way Chromium posts it (Origin: null under Referrer-Policy
// no-referrer, Sec-Fetch-Site: same-origin), and walks through the test
// IdP's login, which signs the user in without a form.  It stops at the
// first Location that starts with the client's redirect URI: nothing
// listens there, the code is read from the URL like a native app would.

const MAX_STEPS = 20;
const STEP_TIMEOUT_MS = 10000;

// One cookie: host-only (no Domain handling: every test server is
// 127.0.0.1), path-scoped, deleted by Max-Age<=0.  Ports are ignored, as
// browsers ignore them (RFC 6265 §8.5).
function parseSetCookie(line) {
  const [pair, ...attrs] = line.split(';');
  const eq = pair.indexOf('=');
  if (eq <= 0) return null;
  const c = { name: pair.slice(0, eq).trim(), value: pair.slice(eq + 1).trim(), path: '/', expired: false };
  for (const a of attrs) {
    const [k, v = ''] = a.split('=');
    const key = k.trim().toLowerCase();
    if (key === 'path' && v.startsWith('/')) c.path = v.trim();
    if (key === 'max-age' && Number(v) <= 0) c.expired = true;
    if (key === 'expires' && Date.parse(v) < Date.now()) c.expired = true;
  }
  return c;
}

export class CookieJar {
  constructor() {
    this.byHost = new Map();
  }

  store(url, response) {
    const host = new URL(url).hostname;
    const jar = this.byHost.get(host) ?? new Map();
    for (const line of response.headers.getSetCookie()) {
      const c = parseSetCookie(line);
      if (!c) continue;
      if (c.expired) jar.delete(c.name);
      else jar.set(c.name, c);
    }
    this.byHost.set(host, jar);
  }

  header(url) {
    const u = new URL(url);
    const jar = this.byHost.get(u.hostname);
    if (!jar) return undefined;
    const out = [];
    for (const c of jar.values()) {
      if (u.pathname === c.path || u.pathname.startsWith(c.path.endsWith('/') ? c.path : `${c.path}/`)) {
        out.push(`${c.name}=${c.value}`);
      }
    }
    return out.length ? out.join('; ') : undefined;
  }

  names(host) {
    return [...(this.byHost.get(host)?.keys() ?? [])];
  }
}

// The consent form's hidden fields and action, from the page's HTML.
export function parseConsentForm(html, pageUrl) {
  const form = /<form\b[^>]*\baction="([^"]*)"[^>]*>([\s\S]*?)<\/form>/i.exec(html);
  if (!form) return null;
  const fields = {};
  for (const m of form[2].matchAll(/<input\b[^>]*>/gi)) {
    const name = /\bname="([^"]*)"/i.exec(m[0]);
    const value = /\bvalue="([^"]*)"/i.exec(m[0]);
    if (name) fields[unescapeHtml(name[1])] = value ? unescapeHtml(value[1]) : '';
  }
  const actions = [...form[2].matchAll(/<button\b[^>]*\bname="action"[^>]*\bvalue="([^"]*)"/gi)].map((m) => m[1]);
  return { action: new URL(unescapeHtml(form[1]), pageUrl).href, fields, actions };
}

function unescapeHtml(s) {
  return s.replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>').replace(/&amp;/g, '&');
}

export class Browser {
  // basic: { origin, user, password } answers 401 Basic challenges there.
  // decision: 'approve' or 'deny' on the consent page.
  constructor({ basic, decision = 'approve', log } = {}) {
    this.jar = new CookieJar();
    this.basic = basic;
    this.decision = decision;
    this.log = log ?? (() => {});
  }

  async request(url, { method = 'GET', body, headers = {} } = {}) {
    const h = { 'user-agent': 'mcpgate-e2e-browser', accept: 'text/html', ...headers };
    const cookie = this.jar.header(url);
    if (cookie) h.cookie = cookie;
    if (this.basic && new URL(url).origin === this.basic.origin) {
      h.authorization = `Basic ${Buffer.from(`${this.basic.user}:${this.basic.password}`).toString('base64')}`;
    }
    const res = await fetch(url, {
      method, body, headers: h, redirect: 'manual', signal: AbortSignal.timeout(STEP_TIMEOUT_MS),
    });
    this.jar.store(url, res);
    const text = await res.text();
    this.log(`${method} ${url} -> ${res.status}`);
    return { status: res.status, headers: res.headers, text, url };
  }

  // Open authorizationUrl and go wherever it leads until the redirect URI.
  async authorize(authorizationUrl, redirectUri) {
    const result = { pages: [], consentPages: 0, idpPages: 0 };
    let url = String(authorizationUrl);
    let req = { method: 'GET' };
    const start = new URL(url).origin;
    for (let step = 0; step < MAX_STEPS; step++) {
      if (url.startsWith(String(redirectUri))) return this.finish(result, url);
      result.pages.push(url);
      const u = new URL(url);
      if (u.origin !== start) result.idpPages++;
      const res = await this.request(url, req);
      req = { method: 'GET' };
      const loc = res.headers.get('location');
      if (res.status >= 300 && res.status < 400 && loc) {
        url = new URL(loc, url).href;
        continue;
      }
      if (res.status === 200 && u.origin === start && u.pathname.endsWith('/oauth/consent')) {
        result.consentPages++;
        result.consentStatus = res.status;
        result.consentHeaders = Object.fromEntries(res.headers);
        const form = parseConsentForm(res.text, url);
        if (!form || !form.fields.csrf) {
          return { ...result, error: 'browser:no-consent-form', body: res.text.slice(0, 500) };
        }
        result.consentForm = form;
        const body = new URLSearchParams({ ...form.fields, action: this.decision });
        url = form.action;
        req = {
          method: 'POST',
          body: body.toString(),
          headers: {
            'content-type': 'application/x-www-form-urlencoded',
            origin: 'null',
            'sec-fetch-site': 'same-origin',
          },
        };
        continue;
      }
      return { ...result, error: `browser:stopped:${res.status}`, body: res.text.slice(0, 500) };
    }
    return { ...result, error: 'browser:too-many-redirects' };
  }

  finish(result, url) {
    const q = new URL(url).searchParams;
    return {
      ...result,
      redirect: url,
      code: q.get('code') ?? undefined,
      state: q.get('state') ?? undefined,
      iss: q.get('iss') ?? undefined,
      error: q.get('error') ?? undefined,
      errorDescription: q.get('error_description') ?? undefined,
    };
  }
}
