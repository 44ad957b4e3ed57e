/*
 * buf: a growable byte buffer with a hard cap, always NUL-terminated.
 * Appends past the cap fail (and set the sticky overflow flag) instead of
 * growing without bound, so one hostile request cannot eat the process.
 */
#ifndef MCPGATE_BUF_H
#define MCPGATE_BUF_H

#include <stddef.h>

struct buf {
	char *data;    /* NUL-terminated; NULL until the first append */
	size_t len;
	size_t cap;    /* allocated */
	size_t max;    /* hard cap on len (0 = 16 MiB) */
	int overflow;  /* set once an append failed */
};

/* Initialise an empty buffer that may hold up to max bytes (0 = 16 MiB). */
void buf_init(struct buf *b, size_t max);
/* Append n bytes; -1 (and overflow set) on cap or allocation failure. */
int buf_append(struct buf *b, const void *p, size_t n);
int buf_puts(struct buf *b, const char *s);
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Append s with HTML special characters escaped (&<>"'). */
int buf_html(struct buf *b, const char *s);
/* Append s percent-encoded for a URL query component (RFC 3986 unreserved kept). */
int buf_urlenc(struct buf *b, const char *s);
/* Empty the buffer, keeping its memory. */
void buf_reset(struct buf *b);
/* Free (wiping the contents first: buffers carry tokens); accepts NULL. */
void buf_free(struct buf *b);
/* Hand the data to the caller (malloc'd, NUL-terminated, may be NULL if empty)
 * and reinitialise b. */
char *buf_take(struct buf *b, size_t *len);

#endif
