#!/usr/bin/env node
// The conformance scenarios whose feature mcpgate has but whose fixture it
// lacks (they call the reference server's test_* tools and test:// resources),
// run with the same client and the same checks on mcpgate's own tools and
// snippet resources.  Talks to /mcp through the bearer proxy, like the suite.
//
//   node equivalents.mjs --url http://127.0.0.1:PROXY/mcp
//
// Prints "ok - ..." / "not ok - ..." lines (../clients/tap.mjs).

import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

import { deadline, failures, is, ok } from '../clients/tap.mjs';

const { values: args } = parseArgs({ options: { url: { type: 'string' } } });
if (!args.url) {
  process.stderr.write('usage: equivalents.mjs --url URL\n');
  process.exit(2);
}
deadline(30000, 'the equivalent scenarios');

const client = new Client({ name: 'conformance-test-client', version: '1.0.0' },
  { capabilities: { sampling: {}, elicitation: {} } });
await client.connect(new StreamableHTTPClientTransport(new URL(args.url)));

async function attempt(desc, fn) {
  try {
    return await fn();
  } catch (e) {
    ok(false, desc, String(e.stack ?? e));
    return undefined;
  }
}

// tools-call-simple-text: a tool answers with text content.
const hello = await attempt('tools-call-simple-text (equivalent, hello_mcp)',
  () => client.callTool({ name: 'hello_mcp', arguments: {} }));
if (hello) {
  ok(hello.content?.[0]?.type === 'text' && hello.content[0].text && !hello.isError,
    'tools-call-simple-text (equivalent, hello_mcp): text content', hello);
}

// tools-call-error: a failing tool gives isError with a message, not a protocol error.
const missing = `conf-missing-${randomBytes(4).toString('hex')}`;
const err = await attempt('tools-call-error (equivalent, get_snippet of a missing name)',
  () => client.callTool({ name: 'get_snippet', arguments: { snippetname: missing } }));
if (err) {
  ok(err.isError === true && err.content?.[0]?.text,
    'tools-call-error (equivalent, get_snippet of a missing name): isError with a message', err);
}

const name = `conf-${randomBytes(4).toString('hex')}`;
const content = `Data for name: ${name}`;
await attempt('save a snippet for the resource scenarios',
  () => client.callTool({ name: 'save_snippet', arguments: { snippetname: name, snippet: content } }));

// resources-read-text: uri, mimeType and text.
const listed = await attempt('resources/list', () => client.listResources());
const res = listed?.resources?.find((r) => r.name === name || r.uri.endsWith(`/${name}`));
ok(res?.uri && res?.name, 'resources/list lists the snippet with uri and name', listed);
if (res) {
  const read = await attempt('resources-read-text (equivalent, a snippet)', () => client.readResource({ uri: res.uri }));
  const c = read?.contents?.[0];
  ok(c?.uri && c?.mimeType && typeof c?.text === 'string',
    'resources-read-text (equivalent, a snippet): uri, mimeType and text', read);
  is(c?.text, content, 'resources-read-text (equivalent, a snippet): the text saved');
}

// resources-templates-read: a URI made from the template reads with the
// parameter substituted.
const tl = await attempt('resources/templates/list', () => client.listResourceTemplates());
const tpl = tl?.resourceTemplates?.find((t) => /\{[^}]+\}/.test(t.uriTemplate));
ok(tpl, 'resources/templates/list offers a template with a parameter', tl);
if (tpl) {
  const param = /\{([^}]+)\}/.exec(tpl.uriTemplate)[1];
  const uri = tpl.uriTemplate.replace(`{${param}}`, name);
  const read = await attempt('resources-templates-read (equivalent)', () => client.readResource({ uri }));
  const c = read?.contents?.[0];
  ok(c?.uri && ('text' in (c ?? {}) || 'blob' in (c ?? {})) && String(c.text ?? '').includes(name),
    `resources-templates-read (equivalent, ${tpl.uriTemplate}): parameter substitution reflected`, read);

  // completion-complete: values for the template's parameter.
  const done = await attempt('completion-complete (equivalent, snippet names)', () => client.complete({
    ref: { type: 'ref/resource', uri: tpl.uriTemplate },
    argument: { name: param, value: name.slice(0, 6) },
  }));
  ok(Array.isArray(done?.completion?.values) && done.completion.values.includes(name),
    'completion-complete (equivalent, snippet names): values include the snippet', done);
}

await attempt('delete the snippet', () => client.callTool({ name: 'delete_snippet', arguments: { snippetname: name } }));
await client.close();
process.exit(failures() ? 1 : 0);
