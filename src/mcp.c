/*
 * mcp: lifecycle, tools, resources and completions.  See mcp.h.
 */
#include "mcp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "scope.h"
#include "snippets.h"

/* Newest first: an unsupported client version gets the first. */
static const char *const mcp_versions[] = {"2025-11-25", "2025-06-18", "2025-03-26",
					   "2024-11-05"};
#define MCP_NVERSIONS (sizeof(mcp_versions) / sizeof(mcp_versions[0]))

/* The result of one method: a result object, or a JSON-RPC error. */
struct mcp_res {
	json_object *result;
	int code;
	char message[JSONRPC_MESSAGE_MAX];
};

int
mcp_version_supported(const char *v)
{
	for (size_t i = 0; v != NULL && i < MCP_NVERSIONS; i++)
		if (strcmp(v, mcp_versions[i]) == 0)
			return 1;
	return 0;
}

int
mcp_version_allows_batch(const char *v)
{
	return v != NULL && strcmp(v, "2025-03-26") == 0;
}

/* ---- small helpers ----------------------------------------------------- */

static int
mcp_fail(struct mcp_res *r, int code, const char *message)
{
	r->code = code;
	/* The parameter helpers already wrote their text into r->message. */
	if (message != r->message)
		snprintf(r->message, sizeof(r->message), "%s", message);
	return MCP_OK;
}

static void
mcp_add(json_object *o, const char *key, json_object *v)
{
	if (json_object_object_add(o, key, v) != 0)
		json_object_put(v);
}

static void
mcp_add_str(json_object *o, const char *key, const char *v)
{
	mcp_add(o, key, json_object_new_string(v));
}

static void
mcp_add_strn(json_object *o, const char *key, const char *v, size_t n)
{
	mcp_add(o, key, json_object_new_string_len(v, (int)n));
}

/* Parse a constant JSON text (schemas): a typo is a bug, logged loudly. */
static json_object *
mcp_json(const char *text)
{
	json_object *o = json_tokener_parse(text);

	if (o == NULL)
		log_msg(LOG_ERROR, "msg=\"mcp: bad built-in JSON\"");
	return o;
}

/* Snippets live in the user's namespace unless the team shares one. */
static const char *
mcp_ns(const struct mcp_call *c)
{
	return c->cfg->shared_snippets ? SNIPPET_NS_SHARED : c->who->user;
}

/* The grant id to check inside the next store transaction, or NULL once
 * it has been checked for this request. */
static const char *
mcp_grant(const struct mcp_call *c)
{
	return c->live_checked ? NULL : c->who->grant_id;
}

/* For methods that touch no snippet: check the grant on its own. */
static int
mcp_ensure_live(struct mcp_call *c)
{
	int rc;

	if (c->live_checked)
		return MCP_OK;
	rc = token_grant_live(c->store, c->who->grant_id);
	if (rc == STORE_OK) {
		c->live_checked = 1;
		return MCP_OK;
	}
	return rc == STORE_NOTFOUND ? MCP_REVOKED : rc == STORE_BUSY ? MCP_BUSY : MCP_ERROR;
}

/* Map a snippets status that is not a tool-level outcome. */
static int
mcp_snippet_status(struct mcp_call *c, int rc)
{
	switch (rc) {
	case SNIPPET_REVOKED: return MCP_REVOKED;
	case SNIPPET_BUSY: return MCP_BUSY;
	case SNIPPET_OK:
	case SNIPPET_NOTFOUND:
		/* The transaction checked the grant before the snippet. */
		c->live_checked = 1;
		return MCP_OK;
	default: return MCP_ERROR;
	}
}

static size_t
mcp_snippet_max(const struct mcp_call *c)
{
	size_t m = c->cfg->snippet_max > 0 ? (size_t)c->cfg->snippet_max : 0;

	return m < SNIPPET_CONTENT_LIMIT ? m : SNIPPET_CONTENT_LIMIT;
}

/* ---- tool results ----------------------------------------------------------- */

/* {content:[{type:text,text}], structuredContent?, isError} */
static json_object *
mcp_tool_result(const char *text, size_t len, json_object *structured, int is_error)
{
	json_object *r = json_object_new_object(), *a = json_object_new_array(),
		    *t = json_object_new_object();

	if (r == NULL || a == NULL || t == NULL) {
		json_object_put(r);
		json_object_put(a);
		json_object_put(t);
		json_object_put(structured);
		return NULL;
	}
	mcp_add_str(t, "type", "text");
	mcp_add_strn(t, "text", text, len);
	json_object_array_add(a, t);
	mcp_add(r, "content", a);
	if (structured != NULL)
		mcp_add(r, "structuredContent", structured);
	mcp_add(r, "isError", json_object_new_boolean(is_error));
	return r;
}

static int
mcp_tool_text(struct mcp_res *r, const char *text, json_object *structured)
{
	r->result = mcp_tool_result(text, strlen(text), structured, 0);
	return r->result != NULL ? MCP_OK : MCP_ERROR;
}

/* A tool's own failure: a result the model can read, not a protocol error. */
static int
mcp_tool_error(struct mcp_res *r, const char *text)
{
	r->result = mcp_tool_result(text, strlen(text), NULL, 1);
	return r->result != NULL ? MCP_OK : MCP_ERROR;
}

/* The snippetname argument, checked against the name rules. */
static int
mcp_arg_name(json_object *args, const char **name, struct mcp_res *r)
{
	size_t len;

	if (jsonrpc_param_string(args, "snippetname", 1, 0, name, &len, r->message,
				 sizeof(r->message)) != 0) {
		r->code = JSONRPC_INVALID_PARAMS;
		return -1;
	}
	if (!snippet_name_valid(*name, len)) {
		mcp_fail(r, JSONRPC_INVALID_PARAMS,
			 "invalid parameter 'snippetname': use 1-128 characters of A-Z a-z 0-9 "
			 ". _ - not starting with '.'");
		return -1;
	}
	return 0;
}

static int
mcp_args_only(json_object *args, const char *const *allowed, struct mcp_res *r)
{
	if (jsonrpc_params_only(args, allowed, r->message, sizeof(r->message)) == 0)
		return 0;
	r->code = JSONRPC_INVALID_PARAMS;
	return -1;
}

/* ---- tools ----------------------------------------------------------------- */

static int
mcp_tool_hello(struct mcp_call *c, json_object *args, struct mcp_res *r)
{
	static const char *const none[] = {NULL};
	const char *who = c->who->name[0] != '\0' ? c->who->name : c->who->user;
	char text[TOKEN_FIELD_MAX + sizeof(c->cfg->server_name) + 32];
	json_object *s;
	int rc;

	if (mcp_args_only(args, none, r) != 0)
		return MCP_OK;
	if ((rc = mcp_ensure_live(c)) != MCP_OK)
		return rc;
	snprintf(text, sizeof(text), "Hello, %s! I am %s.", who, c->cfg->server_name);
	if ((s = json_object_new_object()) == NULL)
		return MCP_ERROR;
	mcp_add_str(s, "greeting", text);
	mcp_add_str(s, "user", who);
	return mcp_tool_text(r, text, s);
}

static int
mcp_tool_save(struct mcp_call *c, json_object *args, struct mcp_res *r)
{
	static const char *const allowed[] = {"snippetname", "snippet", NULL};
	const char *name, *content;
	size_t len, max = mcp_snippet_max(c);
	char text[SNIPPET_NAME_MAX + 96];
	int rc, created = 0;
	json_object *s;

	if (mcp_args_only(args, allowed, r) != 0 || mcp_arg_name(args, &name, r) != 0)
		return MCP_OK;
	if (jsonrpc_param_string(args, "snippet", 1, max, &content, &len, r->message,
				 sizeof(r->message)) != 0) {
		r->code = JSONRPC_INVALID_PARAMS;
		return MCP_OK;
	}
	rc = snippet_put(c->store, mcp_grant(c), mcp_ns(c), name, content, len, max, &created);
	if (rc == SNIPPET_TOO_BIG || rc == SNIPPET_BAD_TEXT)
		return mcp_fail(r, JSONRPC_INVALID_PARAMS,
				"invalid parameter 'snippet': must be UTF-8 text within the size limit");
	if ((rc = mcp_snippet_status(c, rc)) != MCP_OK)
		return rc;
	log_msg(LOG_INFO, "msg=\"snippet saved\" name=%s bytes=%zu", name, len);
	snprintf(text, sizeof(text), "Saved snippet '%s' (%zu bytes%s).", name, len,
		 created ? ", new" : ", replaced the previous version");
	if ((s = json_object_new_object()) == NULL)
		return MCP_ERROR;
	mcp_add_str(s, "snippetname", name);
	mcp_add(s, "bytes", json_object_new_int64((int64_t)len));
	mcp_add(s, "created", json_object_new_boolean(created));
	return mcp_tool_text(r, text, s);
}

static int
mcp_tool_get(struct mcp_call *c, json_object *args, struct mcp_res *r)
{
	static const char *const allowed[] = {"snippetname", NULL};
	struct snippet sn = {0};
	const char *name;
	char text[SNIPPET_NAME_MAX + 32];
	json_object *s;
	int rc;

	if (mcp_args_only(args, allowed, r) != 0 || mcp_arg_name(args, &name, r) != 0)
		return MCP_OK;
	rc = snippet_get(c->store, mcp_grant(c), mcp_ns(c), name, &sn);
	if ((rc = mcp_snippet_status(c, rc)) != MCP_OK)
		return rc;
	if (sn.content == NULL) {
		snprintf(text, sizeof(text), "no snippet named '%s'", name);
		return mcp_tool_error(r, text);
	}
	if ((s = json_object_new_object()) == NULL) {
		snippet_free(&sn);
		return MCP_ERROR;
	}
	mcp_add_str(s, "snippetname", name);
	mcp_add_strn(s, "snippet", sn.content, sn.len);
	mcp_add(s, "bytes", json_object_new_int64((int64_t)sn.len));
	r->result = mcp_tool_result(sn.content, sn.len, s, 0);
	snippet_free(&sn);
	return r->result != NULL ? MCP_OK : MCP_ERROR;
}

/* The names as text, one per line, and as an array. */
static int
mcp_list_render(const struct snippet_names *n, struct mcp_res *r)
{
	struct buf text;
	json_object *s = json_object_new_object(), *a = json_object_new_array();

	if (s == NULL || a == NULL) {
		json_object_put(s);
		json_object_put(a);
		return MCP_ERROR;
	}
	buf_init(&text, 0);
	if (n->n == 0)
		buf_puts(&text, "No snippets saved yet.");
	for (size_t i = 0; i < n->n; i++) {
		buf_printf(&text, "%s%s", i > 0 ? "\n" : "", n->names[i]);
		json_object_array_add(a, json_object_new_string(n->names[i]));
	}
	if (n->more)
		buf_printf(&text, "\n(only the first %zu of %zu names are listed)", n->n, n->total);
	mcp_add(s, "snippets", a);
	mcp_add(s, "truncated", json_object_new_boolean(n->more));
	r->result = text.overflow ? NULL : mcp_tool_result(text.data, text.len, s, 0);
	if (text.overflow)
		json_object_put(s);
	buf_free(&text);
	return r->result != NULL ? MCP_OK : MCP_ERROR;
}

static int
mcp_tool_list(struct mcp_call *c, json_object *args, struct mcp_res *r)
{
	static const char *const none[] = {NULL};
	struct snippet_names n = {0};
	int rc;

	if (mcp_args_only(args, none, r) != 0)
		return MCP_OK;
	rc = snippet_list(c->store, mcp_grant(c), mcp_ns(c), NULL, NULL, SNIPPET_LIST_MAX, &n);
	if ((rc = mcp_snippet_status(c, rc)) != MCP_OK)
		return rc;
	rc = mcp_list_render(&n, r);
	snippet_names_free(&n);
	return rc;
}

static int
mcp_tool_delete(struct mcp_call *c, json_object *args, struct mcp_res *r)
{
	static const char *const allowed[] = {"snippetname", NULL};
	const char *name;
	char text[SNIPPET_NAME_MAX + 32];
	json_object *s;
	int rc;

	if (mcp_args_only(args, allowed, r) != 0 || mcp_arg_name(args, &name, r) != 0)
		return MCP_OK;
	rc = snippet_delete(c->store, mcp_grant(c), mcp_ns(c), name);
	if (rc == SNIPPET_NOTFOUND) {
		c->live_checked = 1;
		snprintf(text, sizeof(text), "no snippet named '%s'", name);
		return mcp_tool_error(r, text);
	}
	if ((rc = mcp_snippet_status(c, rc)) != MCP_OK)
		return rc;
	log_msg(LOG_INFO, "msg=\"snippet deleted\" name=%s", name);
	snprintf(text, sizeof(text), "Deleted snippet '%s'.", name);
	if ((s = json_object_new_object()) == NULL)
		return MCP_ERROR;
	mcp_add_str(s, "snippetname", name);
	mcp_add(s, "deleted", json_object_new_boolean(1));
	return mcp_tool_text(r, text, s);
}

/* ---- the tool table ----------------------------------------------------------- */

#define MCP_NAME_SCHEMA                                                                     \
	"{\"type\":\"string\",\"minLength\":1,\"maxLength\":128,"                              \
	"\"pattern\":\"^[A-Za-z0-9_-][A-Za-z0-9._-]*$\","                                     \
	"\"description\":\"The snippet's name: 1-128 characters of A-Z a-z 0-9 . _ -, not "   \
	"starting with '.'.\"}"
#define MCP_NAME_ONLY                                                                       \
	"{\"type\":\"object\",\"properties\":{\"snippetname\":" MCP_NAME_SCHEMA "},"          \
	"\"required\":[\"snippetname\"],\"additionalProperties\":false}"
#define MCP_NO_ARGS "{\"type\":\"object\",\"properties\":{},\"additionalProperties\":false}"
/* save_snippet's "snippet" gets its maxLength from the configuration. */
#define MCP_SAVE_ARGS                                                                       \
	"{\"type\":\"object\",\"properties\":{\"snippetname\":" MCP_NAME_SCHEMA ","            \
	"\"snippet\":{\"type\":\"string\",\"description\":\"The text to save (UTF-8).\"}},"   \
	"\"required\":[\"snippetname\",\"snippet\"],\"additionalProperties\":false}"

struct mcp_tool {
	const char *name, *title, *description;
	unsigned scope;
	int read_only, destructive, idempotent;
	const char *input, *output;
	int (*call)(struct mcp_call *c, json_object *args, struct mcp_res *r);
};

static const struct mcp_tool mcp_tools[] = {
	{"hello_mcp", "Say hello",
	 "Greets the signed-in user by name. Takes no arguments; useful to check the connection.",
	 0, 1, 0, 1, MCP_NO_ARGS,
	 "{\"type\":\"object\",\"properties\":{\"greeting\":{\"type\":\"string\"},"
	 "\"user\":{\"type\":\"string\"}},\"required\":[\"greeting\",\"user\"]}",
	 mcp_tool_hello},
	{"save_snippet", "Save a snippet",
	 "Saves a text snippet under a name, replacing any snippet of that name.",
	 SCOPE_SNIPPETS_WRITE, 0, 1, 1, MCP_SAVE_ARGS,
	 "{\"type\":\"object\",\"properties\":{\"snippetname\":{\"type\":\"string\"},"
	 "\"bytes\":{\"type\":\"integer\"},\"created\":{\"type\":\"boolean\"}},"
	 "\"required\":[\"snippetname\",\"bytes\",\"created\"]}",
	 mcp_tool_save},
	{"get_snippet", "Read a snippet", "Returns the text of the snippet with the given name.",
	 SCOPE_SNIPPETS_READ, 1, 0, 1, MCP_NAME_ONLY,
	 "{\"type\":\"object\",\"properties\":{\"snippetname\":{\"type\":\"string\"},"
	 "\"snippet\":{\"type\":\"string\"},\"bytes\":{\"type\":\"integer\"}},"
	 "\"required\":[\"snippetname\",\"snippet\",\"bytes\"]}",
	 mcp_tool_get},
	{"list_snippets", "List snippets", "Lists the names of the saved snippets, sorted.",
	 SCOPE_SNIPPETS_READ, 1, 0, 1, MCP_NO_ARGS,
	 "{\"type\":\"object\",\"properties\":{\"snippets\":{\"type\":\"array\",\"items\":"
	 "{\"type\":\"string\"}},\"truncated\":{\"type\":\"boolean\"}},"
	 "\"required\":[\"snippets\",\"truncated\"]}",
	 mcp_tool_list},
	{"delete_snippet", "Delete a snippet", "Deletes the snippet with the given name.",
	 SCOPE_SNIPPETS_WRITE, 0, 1, 1, MCP_NAME_ONLY,
	 "{\"type\":\"object\",\"properties\":{\"snippetname\":{\"type\":\"string\"},"
	 "\"deleted\":{\"type\":\"boolean\"}},\"required\":[\"snippetname\",\"deleted\"]}",
	 mcp_tool_delete},
};
#define MCP_NTOOLS (sizeof(mcp_tools) / sizeof(mcp_tools[0]))

static const struct mcp_tool *
mcp_tool_find(const char *name)
{
	for (size_t i = 0; name != NULL && i < MCP_NTOOLS; i++)
		if (strcmp(mcp_tools[i].name, name) == 0)
			return &mcp_tools[i];
	return NULL;
}

static json_object *
mcp_tool_annotations(const struct mcp_tool *t)
{
	json_object *a = json_object_new_object();

	if (a == NULL)
		return NULL;
	mcp_add_str(a, "title", t->title);
	mcp_add(a, "readOnlyHint", json_object_new_boolean(t->read_only));
	mcp_add(a, "destructiveHint", json_object_new_boolean(t->destructive));
	mcp_add(a, "idempotentHint", json_object_new_boolean(t->idempotent));
	/* Snippets are a closed world: no tool reaches outside this server. */
	mcp_add(a, "openWorldHint", json_object_new_boolean(0));
	return a;
}

static json_object *
mcp_tool_describe(const struct mcp_call *c, const struct mcp_tool *t)
{
	json_object *o = json_object_new_object(), *in = mcp_json(t->input), *p, *s;

	if (o == NULL || in == NULL) {
		json_object_put(o);
		json_object_put(in);
		return NULL;
	}
	/* JSON Schema counts characters, we count bytes: a text within the
	 * byte limit always satisfies maxLength, the converse we check. */
	if (json_object_object_get_ex(in, "properties", &p) &&
	    json_object_object_get_ex(p, "snippet", &s))
		mcp_add(s, "maxLength", json_object_new_int64((int64_t)mcp_snippet_max(c)));
	mcp_add_str(o, "name", t->name);
	mcp_add_str(o, "title", t->title);
	mcp_add_str(o, "description", t->description);
	mcp_add(o, "inputSchema", in);
	mcp_add(o, "outputSchema", mcp_json(t->output));
	mcp_add(o, "annotations", mcp_tool_annotations(t));
	return o;
}

/* ---- methods ------------------------------------------------------------------- */

static json_object *
mcp_capabilities(void)
{
	return mcp_json("{\"tools\":{\"listChanged\":false},"
			"\"resources\":{\"subscribe\":false,\"listChanged\":false},"
			"\"completions\":{},\"logging\":{}}");
}

static const char *
mcp_negotiate(const char *asked)
{
	for (size_t i = 0; i < MCP_NVERSIONS; i++)
		if (strcmp(asked, mcp_versions[i]) == 0)
			return mcp_versions[i];
	/* Lifecycle §Version Negotiation: otherwise answer our latest and let
	 * the client decide whether it can speak it. */
	return mcp_versions[0];
}

static int
mcp_initialize(struct mcp_call *c, const struct jsonrpc_msg *m, struct mcp_res *r)
{
	const char *asked, *v;
	json_object *o, *si, *ignored;
	size_t len;
	int rc;

	if (jsonrpc_param_string(m->params, "protocolVersion", 1, 64, &asked, &len, r->message,
				 sizeof(r->message)) != 0 ||
	    jsonrpc_param_object(m->params, "capabilities", 0, &ignored, r->message,
				 sizeof(r->message)) != 0 ||
	    jsonrpc_param_object(m->params, "clientInfo", 0, &ignored, r->message,
				 sizeof(r->message)) != 0)
		return mcp_fail(r, JSONRPC_INVALID_PARAMS, r->message);
	if ((rc = mcp_ensure_live(c)) != MCP_OK)
		return rc;
	v = mcp_negotiate(asked);
	if ((o = json_object_new_object()) == NULL || (si = json_object_new_object()) == NULL) {
		json_object_put(o);
		return MCP_ERROR;
	}
	mcp_add_str(o, "protocolVersion", v);
	mcp_add(o, "capabilities", mcp_capabilities());
	mcp_add_str(si, "name", c->cfg->server_name);
	mcp_add_str(si, "version", MCP_SERVER_VERSION);
	mcp_add(o, "serverInfo", si);
	mcp_add_str(o, "instructions",
		    c->cfg->shared_snippets
			    ? "Save, read, list and delete named text snippets. Every user of "
			      "this server shares one set of snippets. Names are 1-128 "
			      "characters of A-Z a-z 0-9 . _ - and do not start with '.'."
			    : "Save, read, list and delete named text snippets. Snippets are "
			      "private to the signed-in user. Names are 1-128 characters of "
			      "A-Z a-z 0-9 . _ - and do not start with '.'.");
	snprintf(c->negotiated, sizeof(c->negotiated), "%s", v);
	r->result = o;
	return MCP_OK;
}

static int
mcp_empty_result(struct mcp_call *c, struct mcp_res *r)
{
	int rc = mcp_ensure_live(c);

	if (rc != MCP_OK)
		return rc;
	r->result = json_object_new_object();
	return r->result != NULL ? MCP_OK : MCP_ERROR;
}

static int
mcp_ping(struct mcp_call *c, const struct jsonrpc_msg *m, struct mcp_res *r)
{
	(void)m;
	return mcp_empty_result(c, r);
}

static int
mcp_set_level(struct mcp_call *c, const struct jsonrpc_msg *m, struct mcp_res *r)
{
	static const char *const levels[] = {"debug", "info", "notice", "warning", "error",
					     "critical", "alert", "emergency", NULL};
	const char *level;
	size_t len, i;

	if (jsonrpc_param_string(m->params, "level", 1, 16, &level, &len, r->message,
				 sizeof(r->message)) != 0)
		return mcp_fail(r, JSONRPC_INVALID_PARAMS, r->message);
	for (i = 0; levels[i] != NULL && strcmp(levels[i], level) != 0; i++)
		;
	if (levels[i] == NULL)
		return mcp_fail(r, JSONRPC_INVALID_PARAMS, "invalid parameter 'level'");
	/* Accepted; this server sends no log notifications at any level. */
	return mcp_empty_result(c, r);
}

static int
mcp_tools_list(struct mcp_call *c, const struct jsonrpc_msg *m, struct mcp_res *r)
{
	json_object *o, *a;
	int rc;

	(void)m;
	if ((rc = mcp_ensure_live(c)) != MCP_OK)
		return rc;
	if ((o = json_object_new_object()) == NULL || (a = json_object_new_array()) == NULL) {
		json_object_put(o);
		return MCP_ERROR;
	}
	for (size_t i = 0; i < MCP_NTOOLS; i++)
		json_object_array_add(a, mcp_tool_describe(c, &mcp_tools[i]));
	mcp_add(o, "tools", a);
	r->result = o;
	return MCP_OK;
}

static int
mcp_tools_call(struct mcp_call *c, const struct jsonrpc_msg *m, struct mcp_res *r)
{
	const struct mcp_tool *t;
	json_object *args;
	const char *name;
	size_t len;

	if (jsonrpc_param_string(m->params, "name", 1, 0, &name, &len, r->message,
				 sizeof(r->message)) != 0 ||
	    jsonrpc_param_object(m->params, "arguments", 0, &args, r->message,
				 sizeof(r->message)) != 0)
		return mcp_fail(r, JSONRPC_INVALID_PARAMS, r->message);
	if ((t = mcp_tool_find(name)) == NULL)
		return mcp_fail(r, JSONRPC_INVALID_PARAMS, "unknown tool (see tools/list)");
	return t->call(c, args, r);
}

/* ---- resources --------------------------------------------------------------- */

static json_object *
mcp_resource(const char *name)
{
	json_object *o = json_object_new_object();
	char uri[sizeof(MCP_URI_SCHEME) + SNIPPET_NAME_MAX];

	if (o == NULL)
		return NULL;
	snprintf(uri, sizeof(uri), "%s%s", MCP_URI_SCHEME, name);
	mcp_add_str(o, "uri", uri);
	mcp_add_str(o, "name", name);
	mcp_add_str(o, "mimeType", "text/plain");
	return o;
}

static int
mcp_resources_list(struct mcp_call *c, const struct jsonrpc_msg *m, struct mcp_res *r)
{
	struct snippet_names n = {0};
	const char *cursor;
	json_object *o, *a;
	size_t len;
	int rc;

	if (jsonrpc_param_string(m->params, "cursor", 0, SNIPPET_NAME_MAX, &cursor, &len,
				 r->message, sizeof(r->message)) != 0)
		return mcp_fail(r, JSONRPC_INVALID_PARAMS, r->message);
	/* The cursor is the last name of the previous page (opaque to clients). */
	if (cursor != NULL && !snippet_name_valid(cursor, len))
		return mcp_fail(r, JSONRPC_INVALID_PARAMS, "invalid parameter 'cursor'");
	rc = snippet_list(c->store, mcp_grant(c), mcp_ns(c), NULL, cursor, MCP_PAGE_SIZE, &n);
	if ((rc = mcp_snippet_status(c, rc)) != MCP_OK)
		return rc;
	if ((o = json_object_new_object()) == NULL || (a = json_object_new_array()) == NULL) {
		json_object_put(o);
		snippet_names_free(&n);
		return MCP_ERROR;
	}
	for (size_t i = 0; i < n.n; i++)
		json_object_array_add(a, mcp_resource(n.names[i]));
	mcp_add(o, "resources", a);
	if (n.more && n.n > 0)
		mcp_add_str(o, "nextCursor", n.names[n.n - 1]);
	snippet_names_free(&n);
	r->result = o;
	return MCP_OK;
}

/* The snippet name in a snippet:///<name> URI, or NULL. */
static const char *
mcp_uri_name(const char *uri, size_t len)
{
	size_t sl = sizeof(MCP_URI_SCHEME) - 1;

	if (len <= sl || strncmp(uri, MCP_URI_SCHEME, sl) != 0 ||
	    !snippet_name_valid(uri + sl, len - sl))
		return NULL;
	return uri + sl;
}

static int
mcp_resources_read(struct mcp_call *c, const struct jsonrpc_msg *m, struct mcp_res *r)
{
	struct snippet sn = {0};
	const char *uri, *name;
	json_object *o, *a, *item;
	size_t len;
	int rc;

	if (jsonrpc_param_string(m->params, "uri", 1, 1024, &uri, &len, r->message,
				 sizeof(r->message)) != 0)
		return mcp_fail(r, JSONRPC_INVALID_PARAMS, r->message);
	if ((name = mcp_uri_name(uri, len)) == NULL)
		return mcp_fail(r, JSONRPC_INVALID_PARAMS,
				"invalid parameter 'uri': expected " MCP_URI_SCHEME "<name>");
	rc = snippet_get(c->store, mcp_grant(c), mcp_ns(c), name, &sn);
	if ((rc = mcp_snippet_status(c, rc)) != MCP_OK)
		return rc;
	if (sn.content == NULL)
		return mcp_fail(r, JSONRPC_RESOURCE_NOT_FOUND, "Resource not found");
	o = json_object_new_object();
	a = json_object_new_array();
	item = mcp_resource(name);
	if (o == NULL || a == NULL || item == NULL) {
		json_object_put(o);
		json_object_put(a);
		json_object_put(item);
		snippet_free(&sn);
		return MCP_ERROR;
	}
	json_object_object_del(item, "name");
	mcp_add_strn(item, "text", sn.content, sn.len);
	snippet_free(&sn);
	json_object_array_add(a, item);
	mcp_add(o, "contents", a);
	r->result = o;
	return MCP_OK;
}

static int
mcp_templates_list(struct mcp_call *c, const struct jsonrpc_msg *m, struct mcp_res *r)
{
	int rc;

	(void)m;
	if ((rc = mcp_ensure_live(c)) != MCP_OK)
		return rc;
	r->result = mcp_json("{\"resourceTemplates\":[{\"uriTemplate\":\"" MCP_URI_SCHEME
			     "{name}\",\"name\":\"snippet\",\"title\":\"Snippet\","
			     "\"description\":\"A saved snippet, by name.\","
			     "\"mimeType\":\"text/plain\"}]}");
	return r->result != NULL ? MCP_OK : MCP_ERROR;
}

/* ---- completion ------------------------------------------------------------------ */

/* Record an invalid-params error; -1 for the caller's early return. */
static int
mcp_reject(struct mcp_res *r, const char *message)
{
	mcp_fail(r, JSONRPC_INVALID_PARAMS, message);
	return -1;
}

/* completion/complete: only the {name} variable of our resource template
 * completes; anything else is an unknown reference (-32602). */
static int
mcp_complete_args(const struct jsonrpc_msg *m, const char **prefix, struct mcp_res *r)
{
	json_object *ref, *arg;
	const char *type, *uri, *argname;
	char *e = r->message;
	size_t n, el = sizeof(r->message);

	if (jsonrpc_param_object(m->params, "ref", 1, &ref, e, el) != 0 ||
	    jsonrpc_param_object(m->params, "argument", 1, &arg, e, el) != 0 ||
	    jsonrpc_param_string(ref, "type", 1, 64, &type, &n, e, el) != 0 ||
	    jsonrpc_param_string(arg, "name", 1, 64, &argname, &n, e, el) != 0 ||
	    jsonrpc_param_string(arg, "value", 1, 1024, prefix, &n, e, el) != 0)
		return mcp_reject(r, r->message);
	if (strcmp(type, "ref/resource") != 0)
		return mcp_reject(r, "invalid parameter 'ref': no such prompt");
	if (jsonrpc_param_string(ref, "uri", 1, 1024, &uri, &n, e, el) != 0)
		return mcp_reject(r, r->message);
	if (strcmp(uri, MCP_URI_SCHEME "{name}") != 0 || strcmp(argname, "name") != 0)
		return mcp_reject(r, "invalid parameter 'ref': no such resource template");
	return 0;
}

static int
mcp_complete(struct mcp_call *c, const struct jsonrpc_msg *m, struct mcp_res *r)
{
	struct snippet_names n = {0};
	const char *prefix;
	json_object *o, *cpl, *a;
	int rc;

	if (mcp_complete_args(m, &prefix, r) != 0)
		return MCP_OK;
	rc = snippet_list(c->store, mcp_grant(c), mcp_ns(c), prefix, NULL, MCP_PAGE_SIZE, &n);
	if ((rc = mcp_snippet_status(c, rc)) != MCP_OK)
		return rc;
	o = json_object_new_object();
	cpl = json_object_new_object();
	a = json_object_new_array();
	if (o == NULL || cpl == NULL || a == NULL) {
		json_object_put(o);
		json_object_put(cpl);
		json_object_put(a);
		snippet_names_free(&n);
		return MCP_ERROR;
	}
	for (size_t i = 0; i < n.n; i++)
		json_object_array_add(a, json_object_new_string(n.names[i]));
	mcp_add(cpl, "values", a);
	mcp_add(cpl, "total", json_object_new_int64((int64_t)n.total));
	mcp_add(cpl, "hasMore", json_object_new_boolean(n.more));
	mcp_add(o, "completion", cpl);
	snippet_names_free(&n);
	r->result = o;
	return MCP_OK;
}

/* ---- dispatch ---------------------------------------------------------------------- */

struct mcp_method {
	const char *name;
	unsigned scope; /* beyond what a tool itself needs */
	int (*fn)(struct mcp_call *c, const struct jsonrpc_msg *m, struct mcp_res *r);
};

static const struct mcp_method mcp_methods[] = {
	{"initialize", 0, mcp_initialize},
	{"ping", 0, mcp_ping},
	{"tools/list", 0, mcp_tools_list},
	{"tools/call", 0, mcp_tools_call},
	{"resources/list", SCOPE_SNIPPETS_READ, mcp_resources_list},
	{"resources/read", SCOPE_SNIPPETS_READ, mcp_resources_read},
	{"resources/templates/list", 0, mcp_templates_list},
	{"completion/complete", SCOPE_SNIPPETS_READ, mcp_complete},
	{"logging/setLevel", 0, mcp_set_level},
};

static const struct mcp_method *
mcp_method_find(const char *name)
{
	for (size_t i = 0; name != NULL && i < sizeof(mcp_methods) / sizeof(mcp_methods[0]); i++)
		if (strcmp(mcp_methods[i].name, name) == 0)
			return &mcp_methods[i];
	return NULL;
}

unsigned
mcp_scope_needed(const struct jsonrpc_msg *msg)
{
	const struct mcp_method *m;
	const struct mcp_tool *t;
	json_object *v;

	if (msg->kind != JSONRPC_REQUEST || (m = mcp_method_find(msg->method)) == NULL)
		return 0;
	if (m->fn != mcp_tools_call)
		return m->scope;
	if (msg->params == NULL || !json_object_is_type(msg->params, json_type_object) ||
	    !json_object_object_get_ex(msg->params, "name", &v) ||
	    !json_object_is_type(v, json_type_string) ||
	    (t = mcp_tool_find(json_object_get_string(v))) == NULL)
		return 0;
	return t->scope;
}

static int
mcp_request(struct mcp_call *c, const struct jsonrpc_msg *msg, struct jsonrpc_reply *reply)
{
	const struct mcp_method *m = mcp_method_find(msg->method);
	struct mcp_res r;
	int rc = MCP_OK;

	memset(&r, 0, sizeof(r));
	if (m == NULL) {
		if ((rc = mcp_ensure_live(c)) != MCP_OK)
			return rc;
		return jsonrpc_reply_error(reply, msg->id, JSONRPC_METHOD_NOT_FOUND,
					   "Method not found") == 0 ? MCP_OK : MCP_ERROR;
	}
	if (jsonrpc_params_object(msg->params, r.message, sizeof(r.message)) != 0)
		mcp_fail(&r, JSONRPC_INVALID_PARAMS, r.message);
	else
		rc = m->fn(c, msg, &r);
	if (r.code == 0 && rc == MCP_ERROR)
		r.code = JSONRPC_INTERNAL_ERROR;
	if (r.code == 0 && rc != MCP_OK) {
		json_object_put(r.result);
		return rc;
	}
	/* A refused request still proves nothing about the grant: check it
	 * before answering anything. */
	if (r.code != 0 && (rc = mcp_ensure_live(c)) != MCP_OK) {
		json_object_put(r.result);
		return rc;
	}
	if (r.code != 0) {
		json_object_put(r.result);
		return jsonrpc_reply_error(reply, msg->id, r.code, r.message) == 0 ? MCP_OK
										  : MCP_ERROR;
	}
	return jsonrpc_reply_result(reply, msg->id, r.result) == 0 ? MCP_OK : MCP_ERROR;
}

int
mcp_handle(struct mcp_call *c, const struct jsonrpc_msg *msg, struct jsonrpc_reply *reply)
{
	int rc;

	switch (msg->kind) {
	case JSONRPC_REQUEST:
		return mcp_request(c, msg, reply);
	case JSONRPC_INVALID:
		if ((rc = mcp_ensure_live(c)) != MCP_OK)
			return rc;
		return jsonrpc_reply_error(reply, msg->id, JSONRPC_INVALID_REQUEST, msg->why) == 0
			       ? MCP_OK
			       : MCP_ERROR;
	default:
		/* Notifications (initialized, cancelled, progress, roots) and
		 * responses need no reply; we never send requests, so a
		 * response answers nothing. */
		return mcp_ensure_live(c);
	}
}
