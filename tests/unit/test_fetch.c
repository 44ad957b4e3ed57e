/*
 * test_fetch: address classification, URL policy, and real transfers from a
 * tiny HTTP server this test runs on a loopback port.
 */
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fetch.h"
#include "tap.h"

/* 1 when libcurl is mapped into this process. */
static int
curl_loaded(void)
{
	void *h = dlopen("libcurl.so.4", RTLD_NOW | RTLD_NOLOAD);

	if (h == NULL)
		return 0;
	dlclose(h);
	return 1;
}

static int
count_lines(const char *s)
{
	int n = 0;

	for (; (s = strchr(s, '\n')) != NULL; s++)
		n++;
	return n;
}

/* In a child process (the library is loaded once per process): load libcurl
 * from soname, which cannot work, and check that every entry point fails
 * with FETCH_ERROR and logs why.  Returns what the child saw as bits. */
static int
child_without_curl(const char *soname, char *log, size_t logsz)
{
	int p[2], status = 0;
	ssize_t n, got = 0;
	pid_t pid;

	if (pipe(p) != 0 || (pid = fork()) < 0)
		return -1;
	if (pid == 0) {
		struct fetch_result r;
		struct fetch_url u;
		int bits = 0;

		close(p[0]);
		dup2(p[1], STDERR_FILENO);
		fetch_set_libcurl(soname);
		bits |= fetch_get("https://example.com/", NULL, &r) == FETCH_ERROR ? 1 : 0;
		bits |= r.body == NULL && r.len == 0 && r.status == 0 ? 2 : 0;
		bits |= fetch_post_form("https://example.com/", "a=b", 3, NULL, &r) == FETCH_ERROR
			    ? 4
			    : 0;
		bits |= fetch_url_check("https://example.com/", 0, &u) == FETCH_ERROR ? 8 : 0;
		bits |= fetch_get("https://example.com/", NULL, &r) == FETCH_ERROR ? 16 : 0;
		bits |= !curl_loaded() ? 32 : 0;
		_exit(bits);
	}
	close(p[1]);
	while (got + 1 < (ssize_t)logsz && (n = read(p[0], log + got, logsz - 1 - (size_t)got)) > 0)
		got += n;
	log[got] = '\0';
	close(p[0]);
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

static void
test_no_libcurl(void)
{
	static const struct {
		const char *soname;
		const char *why;
	} t[] = {
	    {"libmcpgate-test-no-such-curl.so.4", "cannot load libcurl"},
	    {"libc.so.6", "libcurl lacks a function"}, /* loads, but has no curl_* */
	};
	char log[2048];

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		int bits = child_without_curl(t[i].soname, log, sizeof(log));
		is_int(bits, 63, "%s: fetch_get, fetch_post_form, fetch_url_check fail cleanly",
		       t[i].soname);
		ok(strstr(log, t[i].why) != NULL && strstr(log, "libcurl4") != NULL &&
		       strstr(log, " error ") != NULL,
		   "%s: the reason is logged as an error", t[i].soname);
		is_int(count_lines(log), 1, "%s: logged once, not on every call", t[i].soname);
	}
}

static void
test_classify(void)
{
	static const struct {
		const char *addr;
		int cls;
	} t[] = {
	    {"8.8.8.8", FETCH_ADDR_PUBLIC},
	    {"1.1.1.1", FETCH_ADDR_PUBLIC},
	    {"93.184.216.34", FETCH_ADDR_PUBLIC},
	    {"10.0.0.1", FETCH_ADDR_PRIVATE},
	    {"10.255.255.255", FETCH_ADDR_PRIVATE},
	    {"11.0.0.1", FETCH_ADDR_PUBLIC},
	    {"172.16.0.1", FETCH_ADDR_PRIVATE},
	    {"172.31.255.255", FETCH_ADDR_PRIVATE},
	    {"172.15.255.255", FETCH_ADDR_PUBLIC},
	    {"172.32.0.0", FETCH_ADDR_PUBLIC},
	    {"192.168.0.1", FETCH_ADDR_PRIVATE},
	    {"192.169.0.1", FETCH_ADDR_PUBLIC},
	    {"127.0.0.1", FETCH_ADDR_LOOPBACK},
	    {"127.255.255.254", FETCH_ADDR_LOOPBACK},
	    {"169.254.169.254", FETCH_ADDR_LINKLOCAL},
	    {"169.254.0.1", FETCH_ADDR_LINKLOCAL},
	    {"100.64.0.1", FETCH_ADDR_CGNAT},
	    {"100.127.255.255", FETCH_ADDR_CGNAT},
	    {"100.128.0.0", FETCH_ADDR_PUBLIC},
	    {"100.63.255.255", FETCH_ADDR_PUBLIC},
	    {"0.0.0.0", FETCH_ADDR_UNSPECIFIED},
	    {"0.1.2.3", FETCH_ADDR_UNSPECIFIED},
	    {"224.0.0.1", FETCH_ADDR_MULTICAST},
	    {"239.255.255.250", FETCH_ADDR_MULTICAST},
	    {"240.0.0.1", FETCH_ADDR_RESERVED},
	    {"255.255.255.255", FETCH_ADDR_RESERVED},
	    {"192.0.2.1", FETCH_ADDR_RESERVED},
	    {"198.51.100.7", FETCH_ADDR_RESERVED},
	    {"203.0.113.9", FETCH_ADDR_RESERVED},
	    {"198.18.0.1", FETCH_ADDR_RESERVED},
	    {"192.0.0.8", FETCH_ADDR_RESERVED},
	    {"::", FETCH_ADDR_UNSPECIFIED},
	    {"::1", FETCH_ADDR_LOOPBACK},
	    {"fe80::1", FETCH_ADDR_LINKLOCAL},
	    {"febf:ffff::1", FETCH_ADDR_LINKLOCAL},
	    {"fc00::1", FETCH_ADDR_PRIVATE},
	    {"fd12:3456:789a::1", FETCH_ADDR_PRIVATE},
	    {"fec0::1", FETCH_ADDR_PRIVATE},
	    {"ff02::1", FETCH_ADDR_MULTICAST},
	    {"::ffff:127.0.0.1", FETCH_ADDR_LOOPBACK},
	    {"::ffff:7f00:1", FETCH_ADDR_LOOPBACK},
	    {"::ffff:10.1.2.3", FETCH_ADDR_PRIVATE},
	    {"::ffff:169.254.169.254", FETCH_ADDR_LINKLOCAL},
	    {"::ffff:0.0.0.0", FETCH_ADDR_UNSPECIFIED},
	    {"::ffff:8.8.8.8", FETCH_ADDR_PUBLIC},
	    {"::127.0.0.1", FETCH_ADDR_LOOPBACK},
	    {"::10.0.0.1", FETCH_ADDR_PRIVATE},
	    {"64:ff9b::10.0.0.1", FETCH_ADDR_PRIVATE},
	    {"64:ff9b::127.0.0.1", FETCH_ADDR_LOOPBACK},
	    {"64:ff9b::8.8.8.8", FETCH_ADDR_PUBLIC},
	    {"64:ff9b:1::1", FETCH_ADDR_PRIVATE},
	    {"2002:7f00:1::1", FETCH_ADDR_LOOPBACK},
	    {"2002:a9fe:a9fe::1", FETCH_ADDR_LINKLOCAL},
	    {"2002:0808:0808::1", FETCH_ADDR_PUBLIC},
	    {"2001:db8::1", FETCH_ADDR_RESERVED},
	    {"2001:0:4136:e378::1", FETCH_ADDR_RESERVED},
	    {"100::1", FETCH_ADDR_RESERVED},
	    {"2606:4700:4700::1111", FETCH_ADDR_PUBLIC},
	    {"2a00:1450:4001:81b::200e", FETCH_ADDR_PUBLIC},
	    {"4000::1", FETCH_ADDR_RESERVED},
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		int c = fetch_addr_classify_str(t[i].addr);
		if (!ok(c == t[i].cls, "classify %s = %s", t[i].addr,
			fetch_addr_class_name((enum fetch_addr_class)t[i].cls)))
			printf("#   got %s\n", fetch_addr_class_name((enum fetch_addr_class)c));
	}
	is_int(fetch_addr_classify_str("localhost"), -1, "names are not addresses");
	is_int(fetch_addr_classify_str("127.1"), -1, "short IPv4 forms are not numeric addresses");
	is_int(fetch_addr_classify(NULL), FETCH_ADDR_RESERVED, "NULL is reserved");
	{
		struct sockaddr sa;
		memset(&sa, 0, sizeof(sa));
		sa.sa_family = AF_UNIX;
		is_int(fetch_addr_classify(&sa), FETCH_ADDR_RESERVED, "AF_UNIX is reserved");
	}
}

static void
test_allowed(void)
{
	static const struct {
		int cls;
		unsigned allow;
		int want;
	} t[] = {
	    {FETCH_ADDR_PUBLIC, 0, 1},
	    {FETCH_ADDR_LOOPBACK, 0, 0},
	    {FETCH_ADDR_LOOPBACK, FETCH_ALLOW_LOOPBACK, 1},
	    {FETCH_ADDR_LOOPBACK, FETCH_ALLOW_PRIVATE, 0},
	    {FETCH_ADDR_PRIVATE, 0, 0},
	    {FETCH_ADDR_PRIVATE, FETCH_ALLOW_PRIVATE, 1},
	    {FETCH_ADDR_CGNAT, FETCH_ALLOW_PRIVATE, 1},
	    {FETCH_ADDR_CGNAT, FETCH_ALLOW_LOOPBACK, 0},
	    {FETCH_ADDR_LINKLOCAL, FETCH_ALLOW_PRIVATE | FETCH_ALLOW_LOOPBACK, 0},
	    {FETCH_ADDR_LINKLOCAL, FETCH_ALLOW_LINKLOCAL, 1},
	    {FETCH_ADDR_MULTICAST, ~0u, 0},
	    {FETCH_ADDR_UNSPECIFIED, ~0u, 0},
	    {FETCH_ADDR_RESERVED, ~0u, 0},
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		is_int(fetch_addr_allowed((enum fetch_addr_class)t[i].cls, t[i].allow), t[i].want,
		       "allowed(%s, %#x)", fetch_addr_class_name((enum fetch_addr_class)t[i].cls),
		       t[i].allow);
}

static void
test_url_policy(void)
{
	static const struct {
		const char *url;
		int insecure;
		int want;
		const char *host;
		unsigned port;
	} t[] = {
	    {"https://example.com/x", 0, FETCH_OK, "example.com", 443},
	    {"HTTPS://Example.COM:8443/a?b=c", 0, FETCH_OK, NULL, 8443},
	    {"https://[2001:db8::1]/x", 0, FETCH_OK, "2001:db8::1", 443},
	    {"http://example.com/", 0, FETCH_EURL, NULL, 0},
	    {"http://example.com/", 1, FETCH_EURL, NULL, 0},
	    {"http://127.0.0.1:8080/x", 0, FETCH_EURL, NULL, 0},
	    {"http://127.0.0.1:8080/x", 1, FETCH_OK, "127.0.0.1", 8080},
	    {"http://127.9.9.9/x", 1, FETCH_OK, NULL, 80},
	    {"http://localhost:9/x", 1, FETCH_OK, "localhost", 9},
	    {"http://[::1]:9/x", 1, FETCH_OK, "::1", 9},
	    {"http://10.0.0.1/x", 1, FETCH_EURL, NULL, 0},
	    {"http://localhost.example.com/", 1, FETCH_EURL, NULL, 0},
	    {"http://127.0.0.1.nip.io/", 1, FETCH_EURL, NULL, 0},
	    {"https://user:pw@example.com/", 0, FETCH_EURL, NULL, 0},
	    {"https://example.com@evil.example/", 0, FETCH_EURL, NULL, 0},
	    {"https://@example.com/", 0, FETCH_EURL, NULL, 0},
	    {"https://example.com/#frag", 0, FETCH_EURL, NULL, 0},
	    {"https://example.com/a#", 0, FETCH_EURL, NULL, 0},
	    {"ftp://example.com/", 1, FETCH_EURL, NULL, 0},
	    {"file:///etc/passwd", 1, FETCH_EURL, NULL, 0},
	    {"gopher://127.0.0.1:25/", 1, FETCH_EURL, NULL, 0},
	    {"javascript:alert(1)", 1, FETCH_EURL, NULL, 0},
	    {"//example.com/", 0, FETCH_EURL, NULL, 0},
	    {"https:example.com", 0, FETCH_EURL, NULL, 0},
	    {"https://", 0, FETCH_EURL, NULL, 0},
	    {"https:///path", 0, FETCH_EURL, NULL, 0},
	    {"", 0, FETCH_EURL, NULL, 0},
	    {"https://exa mple.com/", 0, FETCH_EURL, NULL, 0},
	    {"https://example.com/\\@evil", 0, FETCH_EURL, NULL, 0},
	    {"https://example.com\t/", 0, FETCH_EURL, NULL, 0},
	    {"https://example.com/\x7f", 0, FETCH_EURL, NULL, 0},
	    {"https://ex\xc3\xa4mple.com/", 0, FETCH_EURL, NULL, 0},
	    {"https://example.com:0/", 0, FETCH_EURL, NULL, 0},
	    {"https://example.com:65536/", 0, FETCH_EURL, NULL, 0},
	    {"https://example.com:abc/", 0, FETCH_EURL, NULL, 0},
	    {"https://[fe80::1%25eth0]/", 0, FETCH_EURL, NULL, 0},
	    {"https://[::1/", 0, FETCH_EURL, NULL, 0},
	};
	char longurl[FETCH_URL_MAX + 32];

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct fetch_url u;
		int rc = fetch_url_check(t[i].url, t[i].insecure, &u);
		is_int(rc, t[i].want, "url %zu %s (insecure_loopback=%d)", i, t[i].url,
		       t[i].insecure);
		if (rc == FETCH_OK && t[i].host != NULL)
			is_str(u.host, t[i].host, "url %zu host", i);
		if (rc == FETCH_OK)
			is_int(u.port, t[i].port, "url %zu port", i);
	}
	memcpy(longurl, "https://example.com/", 20);
	memset(longurl + 20, 'a', sizeof(longurl) - 21);
	longurl[sizeof(longurl) - 1] = '\0';
	{
		struct fetch_url u;
		is_int(fetch_url_check(longurl, 0, &u), FETCH_EURL, "over-long URL refused");
		is_int(fetch_url_check(NULL, 0, &u), FETCH_EURL, "NULL URL refused");
	}
}

/* ---- a tiny HTTP/1.0 server, one forked child per connection ---- */

static void
srv_write(int fd, const char *s, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, s, n);
		if (w <= 0)
			return;
		s += w;
		n -= (size_t)w;
	}
}

static void
srv_respond(int fd, const char *head, const char *body, size_t bodylen)
{
	srv_write(fd, head, strlen(head));
	srv_write(fd, body, bodylen);
}

/* Read the request (headers and, if any, body up to Content-Length). */
static size_t
srv_read(int fd, char *req, size_t max)
{
	size_t n = 0;
	char *end = NULL;

	while (n + 1 < max) {
		ssize_t r = read(fd, req + n, max - 1 - n);
		if (r <= 0)
			break;
		n += (size_t)r;
		req[n] = '\0';
		if ((unsigned char)req[0] == 0x16)
			break; /* TLS, not HTTP: no CRLFCRLF will come */
		if ((end = strstr(req, "\r\n\r\n")) != NULL) {
			const char *cl = strcasestr(req, "content-length:");
			size_t want = cl != NULL ? strtoul(cl + 15, NULL, 10) : 0;
			if (n >= (size_t)(end + 4 - req) + want)
				break;
		}
	}
	req[n] = '\0';
	return n;
}

static void
srv_handle(int fd)
{
	static char req[65536], big[200 * 1024], out[70000];
	size_t n = srv_read(fd, req, sizeof(req));

	if (n > 0 && (unsigned char)req[0] == 0x16) {
		/* A TLS ClientHello: answer in plain text, as a misconfigured server would. */
		srv_respond(fd, "HTTP/1.0 400 Bad Request\r\n\r\n", "", 0);
		return;
	}
	if (strncmp(req, "GET /ok ", 8) == 0) {
		srv_respond(fd,
			    "HTTP/1.0 200 OK\r\nContent-Type: Application/JSON; charset=utf-8\r\n"
			    "Cache-Control: public, max-age=300\r\nContent-Length: 11\r\n\r\n",
			    "{\"ok\":true}", 11);
	} else if (strncmp(req, "GET /nocache ", 13) == 0) {
		srv_respond(fd, "HTTP/1.0 200 OK\r\nCache-Control: max-age=60, no-store\r\n\r\n", "x",
			    1);
	} else if (strncmp(req, "GET /big ", 9) == 0) {
		memset(big, 'b', sizeof(big));
		srv_respond(fd, "HTTP/1.0 200 OK\r\n\r\n", big, sizeof(big));
	} else if (strncmp(req, "GET /bigcl ", 11) == 0) {
		memset(big, 'b', sizeof(big));
		srv_respond(fd, "HTTP/1.0 200 OK\r\nContent-Length: 204800\r\n\r\n", big, sizeof(big));
	} else if (strncmp(req, "GET /exact ", 11) == 0) {
		memset(big, 'e', 1024);
		srv_respond(fd, "HTTP/1.0 200 OK\r\n\r\n", big, 1024);
	} else if (strncmp(req, "GET /slow ", 10) == 0) {
		sleep(3);
		srv_respond(fd, "HTTP/1.0 200 OK\r\n\r\n", "late", 4);
	} else if (strncmp(req, "GET /redirect ", 14) == 0) {
		srv_respond(fd, "HTTP/1.0 302 Found\r\nLocation: /ok\r\n\r\n", "moved", 5);
	} else if (strncmp(req, "GET /headers ", 13) == 0) {
		srv_write(fd, "HTTP/1.0 200 OK\r\n", 17);
		for (int i = 0; i < 2000; i++)
			srv_write(fd, "X-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n", 53);
		srv_write(fd, "\r\nx", 3);
	} else if (strncmp(req, "GET /longheader ", 16) == 0) {
		srv_write(fd, "HTTP/1.0 200 OK\r\nX-Long: ", 26);
		memset(big, 'h', sizeof(big));
		srv_write(fd, big, sizeof(big));
		srv_write(fd, "\r\n\r\nx", 5);
	} else if (strncmp(req, "POST /echo ", 11) == 0 || strncmp(req, "GET /echo ", 10) == 0) {
		int m = snprintf(out, sizeof(out), "HTTP/1.0 200 OK\r\n\r\n%s", req);
		srv_write(fd, out, (size_t)m);
	} else {
		srv_respond(fd, "HTTP/1.0 404 Not Found\r\n\r\n", "", 0);
	}
}

static pid_t
srv_start(unsigned *port)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	int s = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	pid_t pid;

	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(s, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(s, 16) != 0 ||
	    getsockname(s, (struct sockaddr *)&sa, &len) != 0)
		return -1;
	*port = ntohs(sa.sin_port);
	pid = fork();
	if (pid != 0) {
		close(s);
		return pid;
	}
	signal(SIGPIPE, SIG_IGN);
	signal(SIGCHLD, SIG_IGN); /* reap connection children automatically */
	alarm(60);                /* never outlive a stuck test */
	for (int i = 0; i < 1000; i++) {
		int c = accept(s, NULL, NULL);
		if (c < 0)
			continue;
		if (fork() == 0) {
			close(s);
			srv_handle(c);
			close(c);
			_exit(0);
		}
		close(c);
	}
	_exit(0);
}

static long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
test_transfers(unsigned port)
{
	struct fetch_opts lo = {.insecure_loopback = 1};
	struct fetch_result r;
	char url[256];
	long t0;
	int rc;

	snprintf(url, sizeof(url), "http://127.0.0.1:%u/ok", port);
	rc = fetch_get(url, &lo, &r);
	is_int(rc, FETCH_OK, "GET /ok");
	is_int(r.status, 200, "GET /ok status");
	ok(r.len == 11 && r.body != NULL && strcmp(r.body, "{\"ok\":true}") == 0, "GET /ok body");
	is_int(r.max_age, 300, "max-age parsed");
	is_str(r.content_type, "application/json", "content type lowercased, params stripped");
	fetch_result_free(&r);
	is_int(r.len, 0, "result cleared after free");

	snprintf(url, sizeof(url), "http://localhost:%u/ok", port);
	is_int(fetch_get(url, &lo, &r), FETCH_OK, "GET via the name localhost (pinned resolve)");
	fetch_result_free(&r);

	snprintf(url, sizeof(url), "http://127.0.0.1:%u/ok", port);
	is_int(fetch_get(url, NULL, &r), FETCH_EURL, "http refused without insecure_loopback");
	is_int(r.status, 0, "no status on refusal");
	{
		struct fetch_opts allow = {.allow = FETCH_ALLOW_LOOPBACK};
		is_int(fetch_get(url, &allow, &r), FETCH_EURL,
		       "http refused even when loopback addresses are allowed");
	}
	snprintf(url, sizeof(url), "https://127.0.0.1:%u/ok", port);
	is_int(fetch_get(url, NULL, &r), FETCH_EBLOCKED, "https to loopback blocked by default");
	snprintf(url, sizeof(url), "https://[::ffff:127.0.0.1]:%u/ok", port);
	is_int(fetch_get(url, NULL, &r), FETCH_EBLOCKED, "IPv4-mapped loopback blocked");
	snprintf(url, sizeof(url), "https://2130706433:%u/ok", port);
	is_int(fetch_get(url, NULL, &r), FETCH_EBLOCKED, "decimal-encoded loopback blocked");
	snprintf(url, sizeof(url), "https://0.0.0.0:%u/ok", port);
	is_int(fetch_get(url, &lo, &r), FETCH_EBLOCKED, "0.0.0.0 blocked even with insecure_loopback");
	is_int(fetch_get("https://10.1.2.3/", NULL, &r), FETCH_EBLOCKED, "private address blocked");
	is_int(fetch_get("https://169.254.169.254/latest/meta-data/", NULL, &r), FETCH_EBLOCKED,
	       "cloud metadata address blocked");
	is_int(fetch_get("https://[fd00::1]/", NULL, &r), FETCH_EBLOCKED, "ULA blocked");
	is_int(fetch_get("https://100.100.100.200/", NULL, &r), FETCH_EBLOCKED, "CGNAT blocked");
	/* insecure_loopback opens loopback for plain http only: an https URL
	 * on a loopback address still needs an explicit allowance. */
	snprintf(url, sizeof(url), "https://127.0.0.1:%u/ok", port);
	is_int(fetch_get(url, &lo, &r), FETCH_EBLOCKED,
	       "https to loopback blocked even with insecure_loopback");
	snprintf(url, sizeof(url), "https://localhost:%u/ok", port);
	is_int(fetch_get(url, &lo, &r), FETCH_EBLOCKED,
	       "https to the name localhost blocked even with insecure_loopback");
	{
		struct fetch_opts allow = {.allow = FETCH_ALLOW_LOOPBACK};
		snprintf(url, sizeof(url), "https://127.0.0.1:%u/ok", port);
		is_int(fetch_get(url, &allow, &r), FETCH_ECONNECT,
		       "https to a plain-http server fails: TLS is never skipped");
	}

	/* Size caps. */
	{
		struct fetch_opts cap = lo;
		cap.max_bytes = 5 * 1024;
		snprintf(url, sizeof(url), "http://127.0.0.1:%u/big", port);
		is_int(fetch_get(url, &cap, &r), FETCH_ETOOBIG, "streamed body over cap aborted");
		ok(r.body == NULL && r.len == 0, "no partial body returned");
		snprintf(url, sizeof(url), "http://127.0.0.1:%u/bigcl", port);
		is_int(fetch_get(url, &cap, &r), FETCH_ETOOBIG, "Content-Length over cap aborted");
		cap.max_bytes = 1024;
		snprintf(url, sizeof(url), "http://127.0.0.1:%u/exact", port);
		is_int(fetch_get(url, &cap, &r), FETCH_OK, "body exactly at the cap accepted");
		is_int(r.len, 1024, "body length at cap");
		fetch_result_free(&r);
		cap.max_bytes = 1023;
		is_int(fetch_get(url, &cap, &r), FETCH_ETOOBIG, "one byte over the cap refused");
		snprintf(url, sizeof(url), "http://127.0.0.1:%u/big", port);
		is_int(fetch_get(url, &lo, &r), FETCH_ETOOBIG, "default cap is 64 KiB");
		snprintf(url, sizeof(url), "http://127.0.0.1:%u/headers", port);
		is_int(fetch_get(url, &lo, &r), FETCH_ETOOBIG, "header flood aborted");
		snprintf(url, sizeof(url), "http://127.0.0.1:%u/longheader", port);
		is_int(fetch_get(url, &lo, &r), FETCH_ETOOBIG, "one 200 KB header line aborted");
	}

	/* No redirects followed. */
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/redirect", port);
	is_int(fetch_get(url, &lo, &r), FETCH_OK, "redirect response returned");
	is_int(r.status, 302, "redirect not followed");
	ok(r.body != NULL && strcmp(r.body, "moved") == 0, "redirect body is the 302's own");
	fetch_result_free(&r);

	snprintf(url, sizeof(url), "http://127.0.0.1:%u/nocache", port);
	is_int(fetch_get(url, &lo, &r), FETCH_OK, "GET /nocache");
	is_int(r.max_age, 0, "no-store wins over max-age");
	fetch_result_free(&r);

	snprintf(url, sizeof(url), "http://127.0.0.1:%u/missing", port);
	is_int(fetch_get(url, &lo, &r), FETCH_OK, "404 is a response, not an error");
	is_int(r.status, 404, "404 status");
	is_int(r.max_age, -1, "no Cache-Control: -1");
	fetch_result_free(&r);

	/* POST with Basic auth and Accept. */
	{
		struct fetch_opts po = lo;
		const char *body = "grant_type=authorization_code&code=abc";
		po.basic_user = "client";
		po.basic_pass = "s3cret";
		po.accept = "application/json";
		snprintf(url, sizeof(url), "http://127.0.0.1:%u/echo", port);
		is_int(fetch_post_form(url, body, strlen(body), &po, &r), FETCH_OK, "POST /echo");
		ok(r.body != NULL && strncmp(r.body, "POST /echo HTTP/1.1", 19) == 0, "POST method");
		ok(r.body != NULL && strstr(r.body, "Authorization: Basic Y2xpZW50OnMzY3JldA==") != NULL,
		   "Basic credentials sent");
		ok(r.body != NULL &&
		       strstr(r.body, "Content-Type: application/x-www-form-urlencoded") != NULL,
		   "form content type sent");
		ok(r.body != NULL && strstr(r.body, "Accept: application/json") != NULL, "Accept sent");
		ok(r.body != NULL && strstr(r.body, "\r\n\r\ngrant_type=authorization_code&code=abc"),
		   "form body sent");
		ok(r.body != NULL && strstr(r.body, "Expect:") == NULL, "no Expect header");
		fetch_result_free(&r);
		po.basic_user = "a:b";
		is_int(fetch_post_form(url, body, strlen(body), &po, &r), FETCH_ERROR,
		       "Basic user with ':' refused");
		po.basic_user = "client";
		po.basic_pass = NULL;
		is_int(fetch_post_form(url, body, strlen(body), &po, &r), FETCH_ERROR,
		       "Basic user without password refused");
		po.basic_user = NULL;
		po.accept = "a\r\nX-Injected: 1";
		is_int(fetch_get(url, &po, &r), FETCH_ERROR, "header injection in Accept refused");
		is_int(fetch_post_form(url, NULL, 0, &lo, &r), FETCH_ERROR, "POST without body refused");
	}

	/* Timeout. */
	{
		struct fetch_opts to = lo;
		to.timeout_ms = 400;
		snprintf(url, sizeof(url), "http://127.0.0.1:%u/slow", port);
		t0 = now_ms();
		is_int(fetch_get(url, &to, &r), FETCH_ETIMEOUT, "slow response times out");
		ok(now_ms() - t0 < 1500, "timeout honoured (%ld ms)", now_ms() - t0);
		to.timeout_ms = 60000;
		t0 = now_ms();
		rc = fetch_get(url, &to, &r);
		ok(rc == FETCH_OK, "3 s response within the 5 s cap (%ld ms)", now_ms() - t0);
		fetch_result_free(&r);
	}
}

static void
test_refused(void)
{
	struct fetch_opts lo = {.insecure_loopback = 1};
	struct fetch_result r;
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	char url[128];
	int s = socket(AF_INET, SOCK_STREAM, 0);

	/* A port that was just free: nothing listens there. */
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	bind(s, (struct sockaddr *)&sa, sizeof(sa));
	getsockname(s, (struct sockaddr *)&sa, &len);
	close(s);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/", ntohs(sa.sin_port));
	is_int(fetch_get(url, &lo, &r), FETCH_ECONNECT, "connection refused");
	fetch_result_free(NULL);
	ok(strcmp(fetch_strerror(FETCH_EBLOCKED), "address not allowed") == 0, "strerror");
}

int
main(void)
{
	unsigned port = 0;
	int linked = curl_loaded();
	pid_t srv;

	/* Before anything here touches libcurl: the children must start
	 * without it. */
	if (linked)
		diag("libcurl is linked into this test program: lazy loading not checked");
	else
		test_no_libcurl();
	test_classify();
	test_allowed();
	if (!linked)
		ok(!curl_loaded(), "libcurl not loaded by address classification");
	test_url_policy();
	ok(curl_loaded(), "libcurl loaded by the first URL check");
	srv = srv_start(&port);
	ok(srv > 0, "test server on port %u", port);
	if (srv > 0) {
		test_transfers(port);
		kill(srv, SIGTERM);
		waitpid(srv, NULL, 0);
	}
	test_refused();
	return tap_done();
}
