#!/usr/bin/env node
// A loopback reverse proxy that adds "Authorization: Bearer <token>" to
// every request, for MCP tools that cannot do OAuth themselves (the
// conformance suite).  Everything else passes through unchanged, Host and
// Origin included, so the server's own checks (DNS rebinding, sessions,
// protocol version) still see what the client sent; bodies stream both
// ways, so SSE responses arrive event by event.
//
//   node bearer_proxy.mjs --upstream http://127.0.0.1:PORT --token-file FILE [--port N]
//
// The token is read from a file so that it never shows in a process list.
// Prints its own origin (http://127.0.0.1:N) on stdout once it listens;
// one line per request on stderr (never the token).  Exits on SIGTERM.

import { readFileSync } from 'node:fs';
import http from 'node:http';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: {
    upstream: { type: 'string' },
    'token-file': { type: 'string' },
    port: { type: 'string', default: '0' },
  },
});
if (!args.upstream || !args['token-file']) {
  process.stderr.write('usage: bearer_proxy.mjs --upstream URL --token-file FILE [--port N]\n');
  process.exit(2);
}
const upstream = new URL(args.upstream);
if (upstream.protocol !== 'http:' || !['127.0.0.1', 'localhost', '[::1]'].includes(upstream.hostname)) {
  process.stderr.write('bearer_proxy: the upstream must be http on loopback\n');
  process.exit(2);
}
const token = readFileSync(args['token-file'], 'utf8').trim();
if (!/^[\x21-\x7e]+$/.test(token)) {
  process.stderr.write('bearer_proxy: the token file holds no token\n');
  process.exit(2);
}

// RFC 9110 §7.6.1: connection-specific fields are not forwarded.
const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authorization',
  'proxy-authenticate', 'te', 'trailer', 'transfer-encoding', 'upgrade']);

function forwardHeaders(raw) {
  const out = [];
  for (let i = 0; i < raw.length; i += 2) {
    const k = raw[i].toLowerCase();
    if (HOP.has(k) || k === 'authorization') continue;
    out.push(raw[i], raw[i + 1]);
  }
  out.push('Authorization', `Bearer ${token}`);
  return out;
}

const server = http.createServer((req, res) => {
  const up = http.request({
    host: upstream.hostname.replace(/^\[|\]$/g, ''),
    port: upstream.port || 80,
    method: req.method,
    path: req.url,
    headers: forwardHeaders(req.rawHeaders),
  });
  up.on('response', (ur) => {
    process.stderr.write(`bearer_proxy: ${req.method} ${req.url} -> ${ur.statusCode}\n`);
    const headers = [];
    for (let i = 0; i < ur.rawHeaders.length; i += 2) {
      if (!HOP.has(ur.rawHeaders[i].toLowerCase())) headers.push(ur.rawHeaders[i], ur.rawHeaders[i + 1]);
    }
    res.writeHead(ur.statusCode, ur.statusMessage, headers);
    res.flushHeaders();
    ur.pipe(res);
    ur.on('error', () => res.destroy());
  });
  up.on('error', (e) => {
    process.stderr.write(`bearer_proxy: ${req.method} ${req.url} -> upstream error ${e.message}\n`);
    if (!res.headersSent) {
      res.writeHead(502, { 'content-type': 'text/plain' });
      res.end('bearer_proxy: upstream error\n');
    } else {
      res.destroy();
    }
  });
  // A client that goes away takes its upstream request with it (an SSE
  // stream must not outlive its reader).
  res.on('close', () => up.destroy());
  req.pipe(up);
});
server.keepAliveTimeout = 5000;

server.listen(Number(args.port), '127.0.0.1', () => {
  process.stdout.write(`http://127.0.0.1:${server.address().port}\n`);
});
for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => {
    server.closeAllConnections?.();
    server.close();
    process.exit(0);
  });
}
