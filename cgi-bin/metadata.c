/*
 * metadata: GET /.well-known/oauth-authorization-server (RFC 8414),
 * /.well-known/openid-configuration (the same document), and
 * /.well-known/oauth-protected-resource[/mcp] (RFC 9728).
 */
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "log.h"
#include "metadata.h"

static int
metadata_init(struct app *app)
{
	struct metadata_docs *docs = calloc(1, sizeof(*docs));

	if (docs == NULL || metadata_build(&app->cfg, docs) != 0) {
		log_msg(LOG_ERROR, "msg=\"cannot build metadata documents\"");
		free(docs);
		return -1;
	}
	app->priv = docs;
	return 0;
}

static void
metadata_fini(struct app *app)
{
	metadata_free(app->priv);
	free(app->priv);
	app->priv = NULL;
}

/* Browser-based clients read these documents cross-origin (RFC 8414 §3 leaves
 * CORS to deployments; MCP clients in browsers need it). They hold nothing
 * secret, so any origin may read them. */
static void
metadata_cors(struct http_resp *resp)
{
	http_resp_header(resp, "Access-Control-Allow-Origin", "*");
}

static void
metadata_handle(struct app *app, struct http_req *req, struct http_resp *resp)
{
	const struct metadata_docs *docs = app->priv;
	enum metadata_doc d;

	if (strcmp(req->method, "OPTIONS") == 0) {
		resp->status = 204;
		metadata_cors(resp);
		http_resp_header(resp, "Access-Control-Allow-Methods", "GET, OPTIONS");
		http_resp_header(resp, "Access-Control-Allow-Headers",
				 "Authorization, Content-Type, MCP-Protocol-Version");
		http_resp_header(resp, "Access-Control-Max-Age", "86400");
		return;
	}
	if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0) {
		http_error_method(resp, "GET, HEAD, OPTIONS", 0);
		metadata_cors(resp);
		return;
	}
	d = metadata_route(docs, req->path);
	metadata_cors(resp);
	if (d == METADATA_NONE) {
		http_error_oauth(resp, 404, "not_found", "no such metadata document");
		return;
	}
	http_resp_header(resp, "Content-Type", "application/json");
	http_resp_header(resp, "Cache-Control", "public, max-age=3600");
	if (strcmp(req->method, "GET") == 0)
		buf_append(&resp->body, docs->json[d], docs->len[d]);
}

static const struct app_def metadata_app = {
	.name = "metadata",
	.needs = 0,
	.handle = metadata_handle,
	.init = metadata_init,
	.fini = metadata_fini,
};

int
main(void)
{
	return app_main(&metadata_app);
}
