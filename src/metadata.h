/*
 * metadata: the discovery documents.
 *   RFC 8414 authorization server metadata (also served as OpenID
 *   Connect discovery, which MCP clients try too), and RFC 9728 protected
 *   resource metadata for the MCP endpoint.
 * Both are built once per process from the configuration: they only change
 * when the configuration does.
 */
#ifndef MCPGATE_METADATA_H
#define MCPGATE_METADATA_H

#include <stddef.h>

#include "config.h"

enum metadata_doc {
	METADATA_NONE = 0,
	METADATA_AS,  /* authorization server metadata */
	METADATA_PRM, /* protected resource metadata */
	METADATA__MAX
};

#define METADATA_PATHS_MAX 8

struct metadata_docs {
	char *json[METADATA__MAX]; /* malloc'd, NUL-terminated */
	size_t len[METADATA__MAX];
	size_t npaths;
	char paths[METADATA_PATHS_MAX][CONFIG_STR_MAX + 64];
	enum metadata_doc path_doc[METADATA_PATHS_MAX];
};

/* Build both documents and the paths that serve them. 0 or -1 (out of memory). */
int metadata_build(const struct config *cfg, struct metadata_docs *out);
void metadata_free(struct metadata_docs *docs);
/* Which document a request path (no query) asks for. */
enum metadata_doc metadata_route(const struct metadata_docs *docs, const char *path);
/* The MCP resource identifier (public_url + "/mcp") into out. */
int metadata_resource(const struct config *cfg, char *out, size_t outsz);

#endif
