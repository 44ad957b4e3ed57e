/*
 * scope: the OAuth scopes mcpgate knows, in one table (RFC 6749 §3.3).
 *
 * Scope names guard the MCP tools: snippets:read for reading tools and
 * resources, snippets:write for tools that change snippets.  The metadata
 * documents, the consent page and the token checks all read this table.
 */
#ifndef MCPGATE_SCOPE_H
#define MCPGATE_SCOPE_H

#include <stddef.h>

enum scope_bit {
	SCOPE_SNIPPETS_READ = 0x1,
	SCOPE_SNIPPETS_WRITE = 0x2
};

#define SCOPE_ALL (SCOPE_SNIPPETS_READ | SCOPE_SNIPPETS_WRITE)

struct scope_def {
	const char *name;
	unsigned bit;
	const char *description; /* plain words for the consent page */
};

/* The table, and its length. */
extern const struct scope_def scope_table[];
extern const size_t scope_count;

/* Parse a space-separated scope string into bits.  Returns 0, or -1 if a
 * token is unknown or malformed (*bad, if non-NULL, gets its index). An empty
 * string yields 0 bits. */
int scope_parse(const char *s, unsigned *bits);
/* Write the names of bits, space-separated, into out; -1 if it does not fit. */
int scope_format(unsigned bits, char *out, size_t outsz);

#endif
