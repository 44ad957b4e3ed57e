#include "fetch.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <dlfcn.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/evp.h>

#include "buf.h"
#include "config.h"
#include "log.h"

#define FETCH_HEADERS_MAX (32 * 1024) /* response header bytes we accept */
#define FETCH_CRED_MAX 1024           /* Basic user or password */
#define FETCH_MAX_AGE_MAX (10L * 365 * 86400)

/* One address we resolved and checked, kept to compare with what curl connects to. */
struct fetch_addr {
	int family;
	unsigned char bytes[16];
};

/* Per-transfer state shared with the libcurl callbacks. */
struct fetch_ctx {
	struct buf body;
	size_t header_bytes;
	int too_big;
	int blocked;
	unsigned allow;
	int loopback_only; /* plain http: every address must be loopback */
	size_t naddrs;
	struct fetch_addr addrs[FETCH_ADDRS_MAX];
	long max_age;
	int no_cache;
	char content_type[128];
};

/*
 * libcurl is opened on first use, not linked.  Linked, it and the thirty-odd
 * libraries it needs (GnuTLS, Kerberos, LDAP, SSH, ...) are loaded and
 * relocated in every process, which costs each one about 4 MB of RSS and
 * 0.8 MB of private memory, while most deployments never fetch anything
 * (remote-user identity, registered clients).  <curl/curl.h> still gives
 * the types and constants, and each pointer below has the type of the
 * function it stands for, so the compiler checks every call as before.
 */
#define FETCH_LIBCURL "libcurl.so.4" /* the OpenSSL flavour, Debian's libcurl4 */

struct fetch_curl_api {
	__typeof__(curl_global_init) *global_init;
	__typeof__(curl_easy_init) *easy_init;
	__typeof__(curl_easy_setopt) *easy_setopt;
	__typeof__(curl_easy_perform) *easy_perform;
	__typeof__(curl_easy_getinfo) *easy_getinfo;
	__typeof__(curl_easy_cleanup) *easy_cleanup;
	__typeof__(curl_url) *url;
	__typeof__(curl_url_set) *url_set;
	__typeof__(curl_url_get) *url_get;
	__typeof__(curl_url_cleanup) *url_cleanup;
	__typeof__(curl_free) *free;
	__typeof__(curl_slist_append) *slist_append;
	__typeof__(curl_slist_free_all) *slist_free_all;
};

/* dlsym hands back a void *; POSIX guarantees it holds a function pointer. */
_Static_assert(sizeof(void *) == sizeof(void (*)(void)), "function pointers fit in void *");

static const struct {
	const char *name;
	size_t off;
} fetch_curl_syms[] = {
    {"curl_global_init", offsetof(struct fetch_curl_api, global_init)},
    {"curl_easy_init", offsetof(struct fetch_curl_api, easy_init)},
    {"curl_easy_setopt", offsetof(struct fetch_curl_api, easy_setopt)},
    {"curl_easy_perform", offsetof(struct fetch_curl_api, easy_perform)},
    {"curl_easy_getinfo", offsetof(struct fetch_curl_api, easy_getinfo)},
    {"curl_easy_cleanup", offsetof(struct fetch_curl_api, easy_cleanup)},
    {"curl_url", offsetof(struct fetch_curl_api, url)},
    {"curl_url_set", offsetof(struct fetch_curl_api, url_set)},
    {"curl_url_get", offsetof(struct fetch_curl_api, url_get)},
    {"curl_url_cleanup", offsetof(struct fetch_curl_api, url_cleanup)},
    {"curl_free", offsetof(struct fetch_curl_api, free)},
    {"curl_slist_append", offsetof(struct fetch_curl_api, slist_append)},
    {"curl_slist_free_all", offsetof(struct fetch_curl_api, slist_free_all)},
};

/* Set once by fetch_curl_load (under pthread_once); read-only afterwards. */
static struct {
	pthread_once_t once;
	int ok;
	const char *soname;
} fetch_lib = {.once = PTHREAD_ONCE_INIT, .soname = FETCH_LIBCURL};

/* The loaded functions: valid only after fetch_curl_ready() returned 0. */
static struct fetch_curl_api fetch_curl;

static void
fetch_curl_fail(const char *what, const char *detail)
{
	char q[256];

	log_msg(LOG_ERROR,
		"msg=\"outbound requests unavailable: %s (Debian package libcurl4)\" lib=%s "
		"error=%s",
		what, fetch_lib.soname, log_quote(q, sizeof(q), detail != NULL ? detail : ""));
}

static void
fetch_curl_load(void)
{
	struct fetch_curl_api api;
	void *h = dlopen(fetch_lib.soname, RTLD_NOW | RTLD_LOCAL);

	if (h == NULL) {
		fetch_curl_fail("cannot load libcurl", dlerror());
		return;
	}
	for (size_t i = 0; i < sizeof(fetch_curl_syms) / sizeof(fetch_curl_syms[0]); i++) {
		void *sym = dlsym(h, fetch_curl_syms[i].name);
		if (sym == NULL) {
			fetch_curl_fail("libcurl lacks a function", fetch_curl_syms[i].name);
			dlclose(h);
			return;
		}
		memcpy((char *)&api + fetch_curl_syms[i].off, &sym, sizeof(sym));
	}
	/* Kept loaded for the life of the process: never dlclose'd once
	 * initialised, since libcurl's global state lives in it. */
	if (api.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fetch_curl_fail("curl_global_init failed", NULL);
		return;
	}
	fetch_curl = api;
	fetch_lib.ok = 1;
}

/* 0 once libcurl is loaded and initialised (first call does it), else -1. */
static int
fetch_curl_ready(void)
{
	if (pthread_once(&fetch_lib.once, fetch_curl_load) != 0 || !fetch_lib.ok)
		return -1;
	return 0;
}

void
fetch_set_libcurl(const char *soname)
{
	fetch_lib.soname = soname != NULL ? soname : FETCH_LIBCURL;
}

const char *
fetch_strerror(int status)
{
	switch (status) {
	case FETCH_OK:
		return "ok";
	case FETCH_EURL:
		return "url refused";
	case FETCH_EBLOCKED:
		return "address not allowed";
	case FETCH_ERESOLVE:
		return "cannot resolve";
	case FETCH_ECONNECT:
		return "connection failed";
	case FETCH_ETIMEOUT:
		return "timeout";
	case FETCH_ETOOBIG:
		return "response too large";
	default:
		return "internal error";
	}
}

const char *
fetch_addr_class_name(enum fetch_addr_class c)
{
	static const char *const names[FETCH_ADDR__MAX] = {
	    "public", "loopback", "private", "cgnat", "link-local", "multicast", "unspecified",
	    "reserved"};

	return (unsigned)c < FETCH_ADDR__MAX ? names[c] : "reserved";
}

/* An IPv4 prefix and the class of the addresses under it. */
struct fetch_v4_range {
	uint32_t net;
	unsigned bits;
	enum fetch_addr_class cls;
};

/* IANA IPv4 special-purpose registry (RFC 6890 and successors), reduced to
 * what matters for outbound requests.  Checked in order; first match wins. */
static const struct fetch_v4_range fetch_v4_ranges[] = {
    {0x00000000u, 8, FETCH_ADDR_UNSPECIFIED}, /* 0/8 "this network" */
    {0x0a000000u, 8, FETCH_ADDR_PRIVATE},     /* 10/8 */
    {0x64400000u, 10, FETCH_ADDR_CGNAT},      /* 100.64/10 */
    {0x7f000000u, 8, FETCH_ADDR_LOOPBACK},    /* 127/8 */
    {0xa9fe0000u, 16, FETCH_ADDR_LINKLOCAL},  /* 169.254/16 */
    {0xac100000u, 12, FETCH_ADDR_PRIVATE},    /* 172.16/12 */
    {0xc0000000u, 24, FETCH_ADDR_RESERVED},   /* 192.0.0/24 IETF assignments */
    {0xc0000200u, 24, FETCH_ADDR_RESERVED},   /* 192.0.2/24 TEST-NET-1 */
    {0xc0586300u, 24, FETCH_ADDR_RESERVED},   /* 192.88.99/24 6to4 relay */
    {0xc0a80000u, 16, FETCH_ADDR_PRIVATE},    /* 192.168/16 */
    {0xc6120000u, 15, FETCH_ADDR_RESERVED},   /* 198.18/15 benchmarking */
    {0xc6336400u, 24, FETCH_ADDR_RESERVED},   /* 198.51.100/24 TEST-NET-2 */
    {0xcb007100u, 24, FETCH_ADDR_RESERVED},   /* 203.0.113/24 TEST-NET-3 */
    {0xe0000000u, 4, FETCH_ADDR_MULTICAST},   /* 224/4 */
    {0xf0000000u, 4, FETCH_ADDR_RESERVED},    /* 240/4 and 255.255.255.255 */
};

static enum fetch_addr_class
fetch_classify_v4(uint32_t a)
{
	for (size_t i = 0; i < sizeof(fetch_v4_ranges) / sizeof(fetch_v4_ranges[0]); i++) {
		const struct fetch_v4_range *r = &fetch_v4_ranges[i];
		uint32_t mask = r->bits == 0 ? 0 : 0xffffffffu << (32 - r->bits);
		if ((a & mask) == r->net)
			return r->cls;
	}
	return FETCH_ADDR_PUBLIC;
}

static uint32_t
fetch_be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static int
fetch_zero(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != 0)
			return 0;
	return 1;
}

/* IPv6 forms that carry an IPv4 address are judged by that address, so
 * ::ffff:127.0.0.1 or 64:ff9b::a00:1 cannot sneak past the IPv4 rules. */
static enum fetch_addr_class
fetch_classify_v6(const unsigned char *a)
{
	static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	static const unsigned char nat64[12] = {0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};

	if (fetch_zero(a, 15))
		return a[15] == 0 ? FETCH_ADDR_UNSPECIFIED
		       : a[15] == 1 ? FETCH_ADDR_LOOPBACK
				    : fetch_classify_v4(fetch_be32(a + 12));
	if (memcmp(a, mapped, 12) == 0 || memcmp(a, nat64, 12) == 0)
		return fetch_classify_v4(fetch_be32(a + 12));
	if (fetch_zero(a, 12)) /* ::a.b.c.d, deprecated IPv4-compatible */
		return fetch_classify_v4(fetch_be32(a + 12));
	if (a[0] == 0x20 && a[1] == 0x02) /* 2002::/16 6to4 */
		return fetch_classify_v4(fetch_be32(a + 2));
	if (a[0] == 0x00 && a[1] == 0x64 && a[2] == 0xff && a[3] == 0x9b && a[4] == 0 &&
	    a[5] == 1) /* 64:ff9b:1::/48 local-use NAT64 (RFC 8215) */
		return FETCH_ADDR_PRIVATE;
	if (a[0] == 0x20 && a[1] == 0x01 && a[2] == 0 && a[3] == 0) /* 2001::/32 Teredo */
		return FETCH_ADDR_RESERVED;
	if (a[0] == 0x20 && a[1] == 0x01 && a[2] == 0x0d && a[3] == 0xb8) /* 2001:db8::/32 */
		return FETCH_ADDR_RESERVED;
	if (a[0] == 0x01 && a[1] == 0 && fetch_zero(a + 2, 6)) /* 100::/64 discard */
		return FETCH_ADDR_RESERVED;
	if ((a[0] & 0xfe) == 0xfc) /* fc00::/7 unique local */
		return FETCH_ADDR_PRIVATE;
	if (a[0] == 0xfe && (a[1] & 0xc0) == 0x80) /* fe80::/10 */
		return FETCH_ADDR_LINKLOCAL;
	if (a[0] == 0xfe && (a[1] & 0xc0) == 0xc0) /* fec0::/10 site-local, deprecated */
		return FETCH_ADDR_PRIVATE;
	if (a[0] == 0xff)
		return FETCH_ADDR_MULTICAST;
	if ((a[0] & 0xe0) != 0x20) /* outside 2000::/3, nothing is globally routed */
		return FETCH_ADDR_RESERVED;
	return FETCH_ADDR_PUBLIC;
}

enum fetch_addr_class
fetch_addr_classify(const struct sockaddr *sa)
{
	if (sa == NULL)
		return FETCH_ADDR_RESERVED;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
		return fetch_classify_v4(ntohl(in->sin_addr.s_addr));
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
		return fetch_classify_v6(in6->sin6_addr.s6_addr);
	}
	return FETCH_ADDR_RESERVED;
}

int
fetch_addr_classify_str(const char *s)
{
	unsigned char a[16];

	if (s == NULL)
		return -1;
	if (inet_pton(AF_INET, s, a) == 1)
		return (int)fetch_classify_v4(fetch_be32(a));
	if (inet_pton(AF_INET6, s, a) == 1)
		return (int)fetch_classify_v6(a);
	return -1;
}

int
fetch_addr_allowed(enum fetch_addr_class c, unsigned allow)
{
	switch (c) {
	case FETCH_ADDR_PUBLIC:
		return 1;
	case FETCH_ADDR_LOOPBACK:
		return (allow & FETCH_ALLOW_LOOPBACK) != 0;
	case FETCH_ADDR_PRIVATE:
	case FETCH_ADDR_CGNAT:
		return (allow & FETCH_ALLOW_PRIVATE) != 0;
	case FETCH_ADDR_LINKLOCAL:
		return (allow & FETCH_ALLOW_LINKLOCAL) != 0;
	default:
		return 0;
	}
}

/* Only printable ASCII; no backslash (parsers disagree on it), no fragment. */
static int
fetch_url_chars_ok(const char *url, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)url[i];
		if (c <= 0x20 || c >= 0x7f || c == '\\' || c == '#')
			return 0;
	}
	return 1;
}

/* The authority (between "://" and the next '/' or '?') must not hold
 * userinfo: "https://good@evil" reads differently to people and parsers. */
static int
fetch_authority_ok(const char *url)
{
	const char *a = strstr(url, "://");
	size_t n;

	if (a == NULL)
		return 0;
	a += 3;
	n = strcspn(a, "/?");
	return n > 0 && memchr(a, '@', n) == NULL;
}


static int
fetch_curlu_host(CURLU *h, struct fetch_url *out)
{
	char *host = NULL, *port = NULL, *zone = NULL;
	unsigned char tmp[16];
	int rc = FETCH_EURL;
	size_t n;

	if (fetch_curl.url_get(h, CURLUPART_ZONEID, &zone, 0) == CURLUE_OK)
		goto out; /* fe80::1%eth0: a link-local detour, never wanted */
	if (fetch_curl.url_get(h, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    fetch_curl.url_get(h, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK)
		goto out;
	n = strlen(host);
	if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
		memmove(host, host + 1, n - 2);
		host[n - 2] = '\0';
		n -= 2;
	}
	if (n == 0 || n >= sizeof(out->host))
		goto out;
	memcpy(out->host, host, n + 1);
	out->host_is_ip =
	    inet_pton(AF_INET, host, tmp) == 1 || inet_pton(AF_INET6, host, tmp) == 1;
	{
		char *end;
		unsigned long p = strtoul(port, &end, 10);
		if (*end != '\0' || p == 0 || p > 65535)
			goto out;
		out->port = (unsigned)p;
	}
	rc = FETCH_OK;
out:
	fetch_curl.free(host);
	fetch_curl.free(port);
	fetch_curl.free(zone);
	return rc;
}

/* Parse url into h (a fresh CURLU) and out. */
static int
fetch_url_parse(CURLU *h, const char *url, int insecure_loopback, struct fetch_url *out)
{
	size_t len;

	memset(out, 0, sizeof(*out));
	if (url == NULL)
		return FETCH_EURL;
	len = strnlen(url, FETCH_URL_MAX + 1);
	if (len == 0 || len > FETCH_URL_MAX || !fetch_url_chars_ok(url, len) ||
	    !fetch_authority_ok(url))
		return FETCH_EURL;
	if (strncasecmp(url, "https://", 8) == 0)
		out->https = 1;
	else if (strncasecmp(url, "http://", 7) != 0)
		return FETCH_EURL;
	if (fetch_curl.url_set(h, CURLUPART_URL, url, 0) != CURLUE_OK)
		return FETCH_EURL;
	if (fetch_curlu_host(h, out) != FETCH_OK)
		return FETCH_EURL;
	/* Plain http is for tests against a local server, nothing else. */
	if (!out->https && !(insecure_loopback && config_host_is_loopback(out->host)))
		return FETCH_EURL;
	return FETCH_OK;
}

int
fetch_url_check(const char *url, int insecure_loopback, struct fetch_url *out)
{
	CURLU *h;
	int rc;

	if (fetch_curl_ready() != 0 || (h = fetch_curl.url()) == NULL)
		return FETCH_ERROR;
	rc = fetch_url_parse(h, url, insecure_loopback, out);
	fetch_curl.url_cleanup(h);
	return rc;
}

/* Record one resolved address in ctx after checking it.  FETCH_OK or EBLOCKED. */
static int
fetch_ctx_add(struct fetch_ctx *ctx, const struct sockaddr *sa)
{
	enum fetch_addr_class c = fetch_addr_classify(sa);
	struct fetch_addr *a;

	if (!fetch_addr_allowed(c, ctx->allow) || (ctx->loopback_only && c != FETCH_ADDR_LOOPBACK))
		return FETCH_EBLOCKED;
	if (ctx->naddrs == FETCH_ADDRS_MAX)
		return FETCH_OK; /* enough to connect to; the rest are simply not used */
	a = &ctx->addrs[ctx->naddrs];
	a->family = sa->sa_family;
	if (sa->sa_family == AF_INET)
		memcpy(a->bytes, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
	else
		memcpy(a->bytes, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, 16);
	ctx->naddrs++;
	return FETCH_OK;
}

/* Resolve u->host and check every address (all must pass: a name that
 * answers with one public and one private address is refused outright). */
static int
fetch_resolve(struct fetch_ctx *ctx, const struct fetch_url *u)
{
	struct addrinfo hints, *res = NULL, *ai;
	int rc = FETCH_OK, n = 0;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	if (u->host_is_ip)
		hints.ai_flags = AI_NUMERICHOST;
	if (getaddrinfo(u->host, NULL, &hints, &res) != 0 || res == NULL)
		return FETCH_ERESOLVE;
	for (ai = res; ai != NULL && rc == FETCH_OK; ai = ai->ai_next) {
		if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
			continue;
		rc = fetch_ctx_add(ctx, ai->ai_addr);
		n++;
	}
	freeaddrinfo(res);
	if (rc == FETCH_OK && ctx->naddrs == 0)
		rc = n == 0 ? FETCH_ERESOLVE : FETCH_EBLOCKED;
	return rc;
}

/* "host:port:addr[,addr...]" pinning curl to the addresses we checked. */
static struct curl_slist *
fetch_resolve_list(const struct fetch_ctx *ctx, const struct fetch_url *u)
{
	struct buf b;
	struct curl_slist *l = NULL;
	char ip[INET6_ADDRSTRLEN];

	buf_init(&b, 2048);
	buf_printf(&b, "%s:%u:", u->host, u->port);
	for (size_t i = 0; i < ctx->naddrs; i++) {
		if (inet_ntop(ctx->addrs[i].family, ctx->addrs[i].bytes, ip, sizeof(ip)) == NULL)
			continue;
		if (ctx->addrs[i].family == AF_INET6)
			buf_printf(&b, "%s[%s]", i > 0 ? "," : "", ip);
		else
			buf_printf(&b, "%s%s", i > 0 ? "," : "", ip);
	}
	if (!b.overflow && b.data != NULL)
		l = fetch_curl.slist_append(NULL, b.data);
	buf_free(&b);
	return l;
}

/* Last line of defence: the address curl is about to connect to must be one
 * we resolved and checked, and still of an allowed class. */
static curl_socket_t
fetch_opensocket(void *arg, curlsocktype purpose, struct curl_sockaddr *addr)
{
	struct fetch_ctx *ctx = arg;
	const struct sockaddr *sa = &addr->addr;
	const void *bytes;
	size_t n;

	if (purpose != CURLSOCKTYPE_IPCXN ||
	    (addr->family != AF_INET && addr->family != AF_INET6))
		goto refuse;
	if (!fetch_addr_allowed(fetch_addr_classify(sa), ctx->allow))
		goto refuse;
	bytes = addr->family == AF_INET
		    ? (const void *)&((const struct sockaddr_in *)(const void *)sa)->sin_addr
		    : (const void *)&((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
	n = addr->family == AF_INET ? 4 : 16;
	for (size_t i = 0; i < ctx->naddrs; i++)
		if (ctx->addrs[i].family == addr->family && memcmp(ctx->addrs[i].bytes, bytes, n) == 0)
			return socket(addr->family, addr->socktype | SOCK_CLOEXEC, addr->protocol);
refuse:
	ctx->blocked = 1;
	return CURL_SOCKET_BAD;
}

static size_t
fetch_on_body(char *p, size_t size, size_t nmemb, void *arg)
{
	struct fetch_ctx *ctx = arg;
	size_t n = size * nmemb;

	if (n == 0)
		return 0;
	if (buf_append(&ctx->body, p, n) != 0) {
		ctx->too_big = 1;
		return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
	}
	return n;
}

/* Cache-Control (RFC 9111 §5.2): we only need max-age, no-store, no-cache. */
static void
fetch_cache_control(struct fetch_ctx *ctx, const char *v, size_t n)
{
	char tmp[512], *save = NULL, *tok;

	if (n >= sizeof(tmp))
		n = sizeof(tmp) - 1;
	memcpy(tmp, v, n);
	tmp[n] = '\0';
	for (tok = strtok_r(tmp, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
		while (*tok == ' ' || *tok == '\t')
			tok++;
		if (strncasecmp(tok, "no-store", 8) == 0 || strncasecmp(tok, "no-cache", 8) == 0) {
			ctx->no_cache = 1;
		} else if (strncasecmp(tok, "max-age=", 8) == 0) {
			char *end;
			const char *num = tok + 8 + (tok[8] == '"');
			long s;
			errno = 0;
			s = strtol(num, &end, 10);
			if (errno == 0 && end != num && s >= 0)
				ctx->max_age = s > FETCH_MAX_AGE_MAX ? FETCH_MAX_AGE_MAX : s;
		}
	}
}

static void
fetch_content_type(struct fetch_ctx *ctx, const char *v, size_t n)
{
	size_t i;

	for (i = 0; i < n && i + 1 < sizeof(ctx->content_type); i++) {
		if (v[i] == ';' || v[i] == ' ' || v[i] == '\t')
			break;
		ctx->content_type[i] = (char)tolower((unsigned char)v[i]);
	}
	ctx->content_type[i] = '\0';
}

static size_t
fetch_on_header(char *p, size_t size, size_t nmemb, void *arg)
{
	struct fetch_ctx *ctx = arg;
	size_t n = size * nmemb, len = n;

	ctx->header_bytes += n;
	if (ctx->header_bytes > FETCH_HEADERS_MAX) {
		ctx->too_big = 1;
		return 0;
	}
	while (len > 0 && (p[len - 1] == '\r' || p[len - 1] == '\n'))
		len--;
	if (len >= 5 && memcmp(p, "HTTP/", 5) == 0) {
		/* A new response (after a 1xx): forget the previous one's headers. */
		ctx->max_age = -1;
		ctx->no_cache = 0;
		ctx->content_type[0] = '\0';
	} else if (len > 14 && strncasecmp(p, "cache-control:", 14) == 0) {
		fetch_cache_control(ctx, p + 14, len - 14);
	} else if (len > 13 && strncasecmp(p, "content-type:", 13) == 0) {
		size_t skip = 13;
		while (skip < len && (p[skip] == ' ' || p[skip] == '\t'))
			skip++;
		fetch_content_type(ctx, p + skip, len - skip);
	}
	return n;
}

static void
fetch_slist_free(struct curl_slist *l)
{
	/* Headers may hold credentials: wipe before handing the memory back. */
	for (struct curl_slist *i = l; i != NULL; i = i->next)
		explicit_bzero(i->data, strlen(i->data));
	fetch_curl.slist_free_all(l);
}

static int
fetch_header_value_ok(const char *v)
{
	return strpbrk(v, "\r\n") == NULL && strlen(v) < 1024;
}

/* "Authorization: Basic base64(user:pass)" appended to *l. */
static int
fetch_add_basic(struct curl_slist **l, const char *user, const char *pass)
{
	unsigned char raw[2 * FETCH_CRED_MAX + 2];
	char hdr[sizeof("Authorization: Basic ") + 4 * ((sizeof(raw) + 2) / 3) + 1];
	size_t ul = strnlen(user, FETCH_CRED_MAX + 1), pl = strnlen(pass, FETCH_CRED_MAX + 1);
	struct curl_slist *n;
	int off, rc = -1;

	if (ul > FETCH_CRED_MAX || pl > FETCH_CRED_MAX || memchr(user, ':', ul) != NULL)
		return -1;
	memcpy(raw, user, ul);
	raw[ul] = ':';
	memcpy(raw + ul + 1, pass, pl);
	off = snprintf(hdr, sizeof(hdr), "Authorization: Basic ");
	EVP_EncodeBlock((unsigned char *)hdr + off, raw, (int)(ul + 1 + pl));
	n = fetch_curl.slist_append(*l, hdr);
	if (n != NULL) {
		*l = n;
		rc = 0;
	}
	explicit_bzero(raw, sizeof(raw));
	explicit_bzero(hdr, sizeof(hdr));
	return rc;
}

static struct curl_slist *
fetch_headers(const struct fetch_opts *o, int post, int *err)
{
	struct curl_slist *l = NULL, *n;
	char accept[1100];

	*err = 0;
	/* A header without value suppresses curl's own "Expect: 100-continue". */
	if ((n = fetch_curl.slist_append(l, "Expect:")) == NULL)
		goto fail;
	l = n;
	if (post) {
		n = fetch_curl.slist_append(l, "Content-Type: application/x-www-form-urlencoded");
		if (n == NULL)
			goto fail;
		l = n;
	}
	if (o->accept != NULL) {
		if (!fetch_header_value_ok(o->accept))
			goto fail;
		snprintf(accept, sizeof(accept), "Accept: %s", o->accept);
		if ((n = fetch_curl.slist_append(l, accept)) == NULL)
			goto fail;
		l = n;
	}
	if ((o->basic_user != NULL) != (o->basic_pass != NULL))
		goto fail;
	if (o->basic_user != NULL && fetch_add_basic(&l, o->basic_user, o->basic_pass) != 0)
		goto fail;
	return l;
fail:
	*err = 1;
	fetch_slist_free(l);
	return NULL;
}

static int
fetch_map_curl(CURLcode cc, const struct fetch_ctx *ctx)
{
	if (ctx->blocked)
		return FETCH_EBLOCKED;
	if (ctx->too_big || cc == CURLE_FILESIZE_EXCEEDED)
		return FETCH_ETOOBIG;
	switch (cc) {
	case CURLE_OK:
		return FETCH_OK;
	case CURLE_OPERATION_TIMEDOUT:
		return FETCH_ETIMEOUT;
	case CURLE_COULDNT_RESOLVE_HOST:
		return FETCH_ERESOLVE;
	case CURLE_URL_MALFORMAT:
	case CURLE_UNSUPPORTED_PROTOCOL:
		return FETCH_EURL;
	case CURLE_OUT_OF_MEMORY:
		/* Also what libcurl reports for a header line over its own
		 * limit (100 KB): a hostile or broken response, not our memory. */
		return FETCH_ETOOBIG;
	case CURLE_FAILED_INIT:
		return FETCH_ERROR;
	default:
		return FETCH_ECONNECT; /* refused, reset, TLS, protocol errors */
	}
}

static long
fetch_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * curl_easy_setopt is variadic: the value must have exactly the type the
 * option's class takes (long, pointer, curl_off_t, callback), and curl's
 * own checking macros do not see calls made through a pointer.  So every
 * option goes through the setter of its class, which converts the value
 * to that type (or refuses to compile), and FETCH_SET checks at compile
 * time that the option belongs to that class (CURLOPTTYPE_* in curl.h).
 */
static CURLcode
fetch_set_long(CURL *c, CURLoption opt, long v)
{
	return fetch_curl.easy_setopt(c, opt, v);
}

static CURLcode
fetch_set_ptr(CURL *c, CURLoption opt, const void *v)
{
	return fetch_curl.easy_setopt(c, opt, v);
}

static CURLcode
fetch_set_off(CURL *c, CURLoption opt, curl_off_t v)
{
	return fetch_curl.easy_setopt(c, opt, v);
}

static CURLcode
fetch_set_datacb(CURL *c, CURLoption opt, curl_write_callback v)
{
	return fetch_curl.easy_setopt(c, opt, v);
}

static CURLcode
fetch_set_sockcb(CURL *c, CURLoption opt, curl_opensocket_callback v)
{
	return fetch_curl.easy_setopt(c, opt, v);
}

#define FETCH_OPT_CLASS(opt) ((opt) / 10000)
#define FETCH_SET(setter, cls, h, opt, val)                                                  \
	do {                                                                                 \
		_Static_assert(FETCH_OPT_CLASS(opt) == FETCH_OPT_CLASS(cls),                 \
			       #opt " is not a " #cls " option");                            \
		if (setter((h), (opt), (val)) != CURLE_OK)                                   \
			goto out;                                                            \
	} while (0)
#define FETCH_SET_LONG(h, opt, val) FETCH_SET(fetch_set_long, CURLOPTTYPE_LONG, h, opt, val)
#define FETCH_SET_PTR(h, opt, val) FETCH_SET(fetch_set_ptr, CURLOPTTYPE_OBJECTPOINT, h, opt, val)
#define FETCH_SET_OFF(h, opt, val) FETCH_SET(fetch_set_off, CURLOPTTYPE_OFF_T, h, opt, val)
#define FETCH_SET_DATACB(h, opt, val)                                                        \
	FETCH_SET(fetch_set_datacb, CURLOPTTYPE_FUNCTIONPOINT, h, opt, val)
#define FETCH_SET_SOCKCB(h, opt, val)                                                        \
	FETCH_SET(fetch_set_sockcb, CURLOPTTYPE_FUNCTIONPOINT, h, opt, val)

/* Options every transfer gets; the policy is not negotiable per call. */
static int
fetch_setup(CURL *c, CURLU *u, const struct fetch_url *fu, struct fetch_ctx *ctx,
	    struct curl_slist *hdrs, struct curl_slist *pin, long timeout_ms, size_t max_bytes)
{
	const char *proto = fu->https ? "https" : "http";

	FETCH_SET_PTR(c, CURLOPT_CURLU, u);
	FETCH_SET_PTR(c, CURLOPT_PROTOCOLS_STR, proto);
	FETCH_SET_PTR(c, CURLOPT_REDIR_PROTOCOLS_STR, proto);
	FETCH_SET_LONG(c, CURLOPT_FOLLOWLOCATION, 0L);
	FETCH_SET_LONG(c, CURLOPT_MAXREDIRS, 0L);
	FETCH_SET_PTR(c, CURLOPT_PROXY, ""); /* ignore http_proxy & co: they would resolve for us */
	FETCH_SET_PTR(c, CURLOPT_NOPROXY, "*");
	FETCH_SET_LONG(c, CURLOPT_SSL_VERIFYPEER, 1L);
	FETCH_SET_LONG(c, CURLOPT_SSL_VERIFYHOST, 2L);
	FETCH_SET_LONG(c, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	FETCH_SET_LONG(c, CURLOPT_NOSIGNAL, 1L);
	FETCH_SET_LONG(c, CURLOPT_TIMEOUT_MS, timeout_ms);
	FETCH_SET_LONG(c, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
	FETCH_SET_OFF(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)max_bytes);
	FETCH_SET_DATACB(c, CURLOPT_WRITEFUNCTION, fetch_on_body);
	FETCH_SET_PTR(c, CURLOPT_WRITEDATA, ctx);
	FETCH_SET_DATACB(c, CURLOPT_HEADERFUNCTION, fetch_on_header);
	FETCH_SET_PTR(c, CURLOPT_HEADERDATA, ctx);
	FETCH_SET_SOCKCB(c, CURLOPT_OPENSOCKETFUNCTION, fetch_opensocket);
	FETCH_SET_PTR(c, CURLOPT_OPENSOCKETDATA, ctx);
	FETCH_SET_PTR(c, CURLOPT_USERAGENT, "mcpgate");
	FETCH_SET_PTR(c, CURLOPT_HTTPHEADER, hdrs);
	if (pin != NULL)
		FETCH_SET_PTR(c, CURLOPT_RESOLVE, pin);
	return 0;
out:
	return -1;
}

static int
fetch_setup_post(CURL *c, const char *body, size_t bodylen)
{
	FETCH_SET_PTR(c, CURLOPT_POSTFIELDS, body);
	FETCH_SET_OFF(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)bodylen);
	return 0;
out:
	return -1;
}

static void
fetch_finish(CURL *c, struct fetch_ctx *ctx, struct fetch_result *res)
{
	_Static_assert((CURLINFO_RESPONSE_CODE & CURLINFO_TYPEMASK) == CURLINFO_LONG,
		       "CURLINFO_RESPONSE_CODE reads a long");
	fetch_curl.easy_getinfo(c, CURLINFO_RESPONSE_CODE, &res->status);
	res->max_age = ctx->no_cache ? 0 : ctx->max_age;
	memcpy(res->content_type, ctx->content_type, sizeof(res->content_type));
	res->body = buf_take(&ctx->body, &res->len);
}

static void
fetch_ctx_init(struct fetch_ctx *ctx, const struct fetch_opts *o)
{
	memset(ctx, 0, sizeof(*ctx));
	buf_init(&ctx->body, o->max_bytes == 0 ? FETCH_MAX_BYTES_DEFAULT : o->max_bytes);
	ctx->max_age = -1;
	ctx->allow = o->allow;
}

/* Everything before the transfer: URL policy, resolution and address
 * checks, pinning, request headers. */
static int
fetch_prepare(const char *url, const struct fetch_opts *o, int post, CURLU *u,
	      struct fetch_ctx *ctx, struct fetch_url *fu, struct curl_slist **pin,
	      struct curl_slist **hdrs)
{
	int rc, herr;

	if ((rc = fetch_url_parse(u, url, o->insecure_loopback, fu)) != FETCH_OK)
		return rc;
	ctx->loopback_only = !fu->https;
	/* insecure_loopback is for plain http to a local test server and
	 * opens loopback addresses for that only: an https URL that resolves
	 * to loopback still needs FETCH_ALLOW_LOOPBACK in o->allow. */
	if (ctx->loopback_only && o->insecure_loopback)
		ctx->allow |= FETCH_ALLOW_LOOPBACK;
	if ((rc = fetch_resolve(ctx, fu)) != FETCH_OK)
		return rc;
	if (!fu->host_is_ip && (*pin = fetch_resolve_list(ctx, fu)) == NULL)
		return FETCH_ERROR;
	*hdrs = fetch_headers(o, post, &herr);
	return herr ? FETCH_ERROR : FETCH_OK;
}

static int
fetch_run(const char *url, const char *body, size_t bodylen, const struct fetch_opts *o,
	  struct fetch_result *res)
{
	static const struct fetch_opts defaults;
	struct fetch_ctx ctx;
	struct fetch_url fu;
	struct curl_slist *hdrs = NULL, *pin = NULL;
	CURLU *u = NULL;
	CURL *c = NULL;
	long start = fetch_now_ms(), timeout, left;
	int rc = FETCH_ERROR;

	memset(res, 0, sizeof(*res));
	res->max_age = -1;
	if (fetch_curl_ready() != 0)
		return FETCH_ERROR;
	o = o != NULL ? o : &defaults;
	timeout = o->timeout_ms <= 0 || o->timeout_ms > FETCH_TIMEOUT_MAX_MS ? FETCH_TIMEOUT_MAX_MS
									       : o->timeout_ms;
	fetch_ctx_init(&ctx, o);
	if ((u = fetch_curl.url()) == NULL || (c = fetch_curl.easy_init()) == NULL)
		goto out;
	rc = fetch_prepare(url, o, body != NULL, u, &ctx, &fu, &pin, &hdrs);
	/* The resolver's time counts against the budget too. */
	left = timeout - (fetch_now_ms() - start);
	if (rc == FETCH_OK && left <= 0)
		rc = FETCH_ETIMEOUT;
	if (rc != FETCH_OK)
		goto out;
	rc = FETCH_ERROR;
	if (fetch_setup(c, u, &fu, &ctx, hdrs, pin, left, ctx.body.max) != 0 ||
	    (body != NULL && fetch_setup_post(c, body, bodylen) != 0))
		goto out;
	rc = fetch_map_curl(fetch_curl.easy_perform(c), &ctx);
	if (rc == FETCH_OK)
		fetch_finish(c, &ctx, res);
out:
	if (c != NULL)
		fetch_curl.easy_cleanup(c);
	fetch_curl.url_cleanup(u);
	fetch_slist_free(hdrs);
	fetch_curl.slist_free_all(pin);
	buf_free(&ctx.body);
	return rc;
}

int
fetch_get(const char *url, const struct fetch_opts *opts, struct fetch_result *res)
{
	return fetch_run(url, NULL, 0, opts, res);
}

int
fetch_post_form(const char *url, const char *body, size_t bodylen,
		const struct fetch_opts *opts, struct fetch_result *res)
{
	if (body == NULL) {
		memset(res, 0, sizeof(*res));
		res->max_age = -1;
		return FETCH_ERROR;
	}
	return fetch_run(url, body, bodylen, opts, res);
}

void
fetch_result_free(struct fetch_result *res)
{
	if (res == NULL)
		return;
	if (res->body != NULL) {
		explicit_bzero(res->body, res->len);
		free(res->body);
	}
	memset(res, 0, sizeof(*res));
	res->max_age = -1;
}
