/*
 * fetch: every outbound HTTP request mcpgate makes (OIDC discovery, JWKS,
 * the upstream token exchange, Client ID Metadata Documents) goes through
 * this one libcurl wrapper, so the rules live in one place:
 *
 *   - https only; plain http only when insecure_loopback is set AND the URL
 *     names a loopback host AND every address it resolves to is loopback;
 *   - TLS verification always on (peer and host name), no proxy, no
 *     redirects (a 3xx is returned to the caller as it is), no content
 *     decoding (so the size cap applies to the bytes on the wire);
 *   - a total time limit (default and maximum FETCH_TIMEOUT_MAX_MS) and a
 *     body size cap: the transfer is aborted as soon as it is exceeded;
 *   - SSRF guard: the host is resolved here, every address is classified
 *     (fetch_addr_classify) and the request is refused if any of them is
 *     loopback, private, CGNAT, link-local, multicast, unspecified or
 *     reserved, unless that class is explicitly allowed.  The checked
 *     addresses are pinned (CURLOPT_RESOLVE) and the socket callback checks
 *     the address actually connected to again, so a DNS answer that changes
 *     between our lookup and curl's connect (rebinding) cannot slip through.
 *
 * Host name resolution uses the system resolver (getaddrinfo), whose own
 * timeouts (resolv.conf) apply before the transfer's time limit starts.
 *
 * libcurl (libcurl.so.4) is loaded by the first fetch or URL check, not
 * linked, so a process that never makes an outbound request never maps it.
 * When it cannot be loaded, that call and every later one return
 * FETCH_ERROR, and the reason is logged once.
 */
#ifndef MCPGATE_FETCH_H
#define MCPGATE_FETCH_H

#include <stddef.h>
#include <sys/socket.h>

#define FETCH_TIMEOUT_MAX_MS 5000L
#define FETCH_MAX_BYTES_DEFAULT (64 * 1024)
#define FETCH_URL_MAX 4096
#define FETCH_ADDRS_MAX 16 /* resolved addresses considered per host */

/* Address classes (what an address is, not whether it is allowed). */
enum fetch_addr_class {
	FETCH_ADDR_PUBLIC = 0,
	FETCH_ADDR_LOOPBACK,    /* 127/8, ::1 */
	FETCH_ADDR_PRIVATE,     /* 10/8, 172.16/12, 192.168/16, fc00::/7, fec0::/10 */
	FETCH_ADDR_CGNAT,       /* 100.64/10 (RFC 6598) */
	FETCH_ADDR_LINKLOCAL,   /* 169.254/16, fe80::/10: cloud metadata lives here */
	FETCH_ADDR_MULTICAST,   /* 224/4, ff00::/8 */
	FETCH_ADDR_UNSPECIFIED, /* 0/8, :: (0.0.0.0 reaches the local host on Linux) */
	FETCH_ADDR_RESERVED,    /* documentation, benchmarking, 240/4, Teredo, ... */
	FETCH_ADDR__MAX
};

/* Bits for fetch_opts.allow: classes permitted beyond FETCH_ADDR_PUBLIC.
 * Multicast, unspecified and reserved addresses are never permitted. */
#define FETCH_ALLOW_LOOPBACK 0x1u
#define FETCH_ALLOW_PRIVATE 0x2u /* private and CGNAT */
#define FETCH_ALLOW_LINKLOCAL 0x4u

enum fetch_status {
	FETCH_OK = 0,
	FETCH_EURL = -1,     /* URL refused: malformed, scheme, userinfo, fragment, length */
	FETCH_EBLOCKED = -2, /* SSRF guard: an address is not allowed */
	FETCH_ERESOLVE = -3, /* host name does not resolve */
	FETCH_ECONNECT = -4, /* connection refused/reset, or TLS failure */
	FETCH_ETIMEOUT = -5,
	FETCH_ETOOBIG = -6,  /* body (or headers) over the cap */
	FETCH_ERROR = -7     /* out of memory, libcurl missing or setup failure */
};

struct fetch_opts {
	long timeout_ms;        /* whole request; <= 0 or > max: FETCH_TIMEOUT_MAX_MS */
	size_t max_bytes;       /* body cap; 0: FETCH_MAX_BYTES_DEFAULT */
	unsigned allow;         /* FETCH_ALLOW_* */
	int insecure_loopback;  /* plain http:// to a loopback host (never https) */
	const char *accept;     /* Accept header, or NULL */
	const char *basic_user; /* HTTP Basic credentials (RFC 7617), sent as given: */
	const char *basic_pass; /* the caller applies any encoding its protocol wants */
};

struct fetch_result {
	long status;      /* HTTP status code */
	char *body;       /* malloc'd, NUL-terminated after len bytes; may be NULL when len is 0 */
	size_t len;
	long max_age;     /* Cache-Control max-age in seconds; 0 for no-store/no-cache; -1 absent */
	char content_type[128]; /* media type, lowercased, parameters stripped; "" if absent */
};

/* The parts of a URL the policy looks at. */
struct fetch_url {
	int https;        /* 1 https, 0 http */
	char host[256];   /* without brackets for IPv6 literals */
	unsigned port;
	int host_is_ip;   /* host is an IP literal */
};

/* GET url.  res is zeroed first and, on FETCH_OK, holds any HTTP status
 * (the caller decides what a non-2xx means).  Release with fetch_result_free. */
int fetch_get(const char *url, const struct fetch_opts *opts, struct fetch_result *res);
/* POST an application/x-www-form-urlencoded body; otherwise as fetch_get. */
int fetch_post_form(const char *url, const char *body, size_t bodylen,
		    const struct fetch_opts *opts, struct fetch_result *res);
/* Wipe (bodies can hold tokens) and free; accepts NULL and zeroed results. */
void fetch_result_free(struct fetch_result *res);

/* Check url against the URL policy (scheme, userinfo, fragment, length,
 * characters, loopback rule) and split it.  FETCH_OK or FETCH_EURL. */
int fetch_url_check(const char *url, int insecure_loopback, struct fetch_url *out);
/* Classify an IPv4 or IPv6 socket address (IPv4-mapped, IPv4-compatible,
 * NAT64 and 6to4 IPv6 forms are classified by the IPv4 address they carry).
 * Unknown families classify as FETCH_ADDR_RESERVED. */
enum fetch_addr_class fetch_addr_classify(const struct sockaddr *sa);
/* Same, for a numeric address string ("10.0.0.1", "::ffff:127.0.0.1"); -1 when
 * s is not a numeric address. */
int fetch_addr_classify_str(const char *s);
/* 1 when an address of class c may be contacted under allow (FETCH_ALLOW_*). */
int fetch_addr_allowed(enum fetch_addr_class c, unsigned allow);
/* Load libcurl from soname instead of libcurl.so.4 (NULL: the default); for
 * tests.  Only takes effect before the first fetch or URL check in the process. */
void fetch_set_libcurl(const char *soname);
/* Short names for logs. */
const char *fetch_strerror(int status);
const char *fetch_addr_class_name(enum fetch_addr_class c);

#endif
