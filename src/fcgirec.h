/*
 * fcgirec: FastCGI 1.0 records for a responder that runs its own event loop.
 *
 * libfcgi reads and writes with blocking I/O and one request per call, so a
 * program that holds thousands of connections in one thread (sse) speaks
 * the record layer itself.  This module is the pure part: it never touches
 * a descriptor.
 *
 *   parsing   fcgirec_feed() takes bytes as they arrive, in pieces of any
 *             size, and returns one event at a time: a request's parameters
 *             complete, its standard input, an abort, a management record
 *             to answer, or a protocol error (close the connection).
 *   encoding  fcgirec_stdout() and fcgirec_end() append the records of a
 *             response to a struct buf.
 *
 * Everything is bounded: parameters at most FCGIREC_PARAMS_MAX bytes and
 * FCGIREC_ENV_MAX pairs per request; anything over a bound or malformed is
 * an error, never a truncation.  One request per connection at a time
 * (FCGI_MPXS_CONNS=0): a second FCGI_BEGIN_REQUEST meanwhile is refused
 * with FCGI_CANT_MPX_CONN, as the specification says (§5.1).
 */
#ifndef MCPGATE_FCGIREC_H
#define MCPGATE_FCGIREC_H

#include <stddef.h>

#include "buf.h"

#define FCGIREC_PARAMS_MAX (32 * 1024) /* name and value bytes of one request */
#define FCGIREC_ENV_MAX 256            /* name-value pairs of one request */
#define FCGIREC_REPLY_MAX 128          /* largest management answer */

enum fcgirec_event {
	FCGIREC_NONE = 0, /* every byte given was consumed: wait for more */
	FCGIREC_PARAMS,   /* the request's parameters are complete: fcgirec_env() */
	FCGIREC_STDIN,    /* ev.data/ev.len of standard input; len 0 is its end */
	FCGIREC_ABORT,    /* the web server aborted the request (client gone) */
	FCGIREC_REPLY,    /* write ev.reply[0..reply_len) back, then go on */
	FCGIREC_ERROR     /* malformed or over a bound: ev.error says what; close */
};

struct fcgirec_ev {
	enum fcgirec_event type;
	unsigned id;                 /* request id of the record */
	const unsigned char *data;   /* FCGIREC_STDIN: view into the caller's input */
	size_t len;
	unsigned char reply[FCGIREC_REPLY_MAX];
	size_t reply_len;
	const char *error;           /* FCGIREC_ERROR: static text for the log */
};

/* Parser state for one connection.  Zero-initialise with fcgirec_init;
 * release with fcgirec_free.  Holds no memory between requests except
 * while a request's parameters are arriving. */
struct fcgirec {
	unsigned char hdr[8];
	size_t hlen;               /* header bytes gathered */
	unsigned type, id;         /* the current record */
	size_t clen, plen;         /* content and padding bytes still to come */
	unsigned char begin[8];    /* FCGI_BEGIN_REQUEST / GET_VALUES body gathered */
	size_t blen;
	unsigned req_id;           /* the active request, 0 for none */
	int keep_conn;             /* its FCGI_KEEP_CONN flag */
	int params_done;
	int dead;                  /* an error was returned: nothing more is parsed */
	char *params;              /* raw PARAMS content of the active request */
	size_t params_len, params_cap;
	char **env;                /* one block: NULL-terminated pointers, then the strings */
	size_t rec_clen;           /* content length of the current record */
	unsigned max_conns;        /* FCGI_MAX_CONNS / FCGI_MAX_REQS answered (default 1) */
};

/* Empty state; max_conns may be set afterwards. */
void fcgirec_init(struct fcgirec *p);
/* Free what p holds; p is then as after fcgirec_init.  Accepts NULL. */
void fcgirec_free(struct fcgirec *p);

/* Parse in[0..len) from the start; *used gets the bytes consumed (always
 * <= len).  Returns the event filled into *ev; call again with the rest
 * while the result is not FCGIREC_NONE.  FCGIREC_STDIN data points into in.
 * After FCGIREC_ERROR every later call returns FCGIREC_ERROR. */
enum fcgirec_event fcgirec_feed(struct fcgirec *p, const unsigned char *in, size_t len,
				size_t *used, struct fcgirec_ev *ev);

/* After FCGIREC_PARAMS: the environment, as libfcgi's FCGX_Request.envp
 * ("NAME=VALUE" strings, NULL-terminated; owned by p, valid until
 * fcgirec_end_request or fcgirec_free). */
char **fcgirec_env(const struct fcgirec *p);
/* The active request's id (0: none) and its FCGI_KEEP_CONN flag. */
unsigned fcgirec_request_id(const struct fcgirec *p);
int fcgirec_keep_conn(const struct fcgirec *p);
/* Free the environment early (a long response no longer needs it); the
 * request stays active. */
void fcgirec_drop_env(struct fcgirec *p);
/* The response is complete: forget the active request and free its
 * parameters, so that the connection may carry the next one. */
void fcgirec_end_request(struct fcgirec *p);

/* Append FCGI_STDOUT records carrying data[0..n) for request id (split at
 * FCGI_MAX_LENGTH).  n == 0 appends nothing (an empty record would end the
 * stream).  0, or -1 when b is full. */
int fcgirec_stdout(struct buf *b, unsigned id, const void *data, size_t n);
/* Append the end of the response: an empty FCGI_STDOUT and FCGI_END_REQUEST
 * with app_status and FCGI_REQUEST_COMPLETE.  0 or -1. */
int fcgirec_end(struct buf *b, unsigned id, unsigned app_status);
/* Bytes of record headers fcgirec_stdout adds around n bytes of data. */
size_t fcgirec_overhead(size_t n);

#endif
