/*
 * test_bus: message -> sse delivery over the Unix datagram bus.
 * Small, inline-limit and memfd-sized messages, a full queue (BUS_BUSY
 * within the timeout, and a waiting sender released as soon as the queue
 * drains), missing and stale sockets (BUS_GONE), malformed datagrams,
 * stale-socket cleanup and many concurrent senders.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "bus.h"
#include "tap.h"

#define ID "abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123456"

static char tdir[64];

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int
count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

static void
fill(char *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (char)('a' + (i * 7 + seed) % 26);
}

/* Drain everything waiting on l (bounded). */
static void
drain(struct bus_listener *l)
{
	struct bus_msg m;

	for (int i = 0; i < 1000 && bus_recv(l, &m, 0) != BUS_AGAIN; i++)
		bus_msg_free(&m);
}

static void
test_listen(struct bus_listener *l)
{
	struct stat st;
	char want[128];

	snprintf(want, sizeof(want), "%s/bus-%ld.sock", tdir, (long)getpid());
	is_str(bus_listener_path(l), want, "socket is <dir>/bus-<pid>.sock");
	ok(stat(want, &st) == 0 && S_ISSOCK(st.st_mode), "socket exists");
	is_int(st.st_mode & 0777, 0600, "socket mode 0600");
	ok(bus_listener_fd(l) >= 0, "listener fd");
	snprintf(want, sizeof(want), "%s/bus-%ld.tmp", tdir, (long)getpid());
	ok(access(want, F_OK) != 0, "no temporary name left behind");
}

static void
test_sizes(struct bus_listener *l)
{
	static const size_t sizes[] = {1,
				       2,
				       1000,
				       BUS_INLINE_MAX - 1,
				       BUS_INLINE_MAX,
				       BUS_INLINE_MAX + 1,
				       250000,
				       1024 * 1024,
				       BUS_MSG_MAX};
	char *big = malloc(BUS_MSG_MAX + 1);
	int fds0 = count_fds();

	if (big == NULL)
		return;
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		struct bus_msg m;
		int rc;

		double t0;

		fill(big, sizes[i], (unsigned)i);
		t0 = now_ms();
		rc = bus_send(bus_listener_path(l), ID, big, sizes[i], 1000);
		is_int(rc, BUS_OK, "send %zu bytes (%s)", sizes[i],
		       sizes[i] > BUS_INLINE_MAX ? "memfd" : "inline");
		rc = bus_recv(l, &m, 1000);
		printf("# %zu bytes: send + receive %.3f ms\n", sizes[i], now_ms() - t0);
		is_int(rc, BUS_OK, "receive %zu bytes", sizes[i]);
		ok(rc == BUS_OK && m.len == sizes[i] && memcmp(m.data, big, m.len) == 0 &&
			   m.data[m.len] == '\0',
		   "%zu bytes arrive intact and NUL-terminated", sizes[i]);
		is_str(m.session_id, ID, "session id of the %zu-byte message", sizes[i]);
		bus_msg_free(&m);
	}
	is_int(count_fds(), fds0, "no descriptor leaked by memfd transfers");
	is_int(bus_send(bus_listener_path(l), ID, big, BUS_MSG_MAX + 1, 100), BUS_TOOBIG,
	       "BUS_MSG_MAX + 1 is BUS_TOOBIG");
	free(big);
}

static void
test_args(struct bus_listener *l)
{
	static const struct {
		const char *id;
		const char *why;
	} bad_ids[] = {
		{"", "empty id"},
		{"a b", "id with a space"},
		{"a\nb", "id with a newline"},
		{"\x80\x81", "id with non-ASCII bytes"},
		{"0123456789012345678901234567890123456789012345678901234567890123456789",
		 "id over BUS_ID_MAX"},
	};
	const char *p = bus_listener_path(l);
	char longpath[200];

	for (size_t i = 0; i < sizeof(bad_ids) / sizeof(bad_ids[0]); i++)
		is_int(bus_send(p, bad_ids[i].id, "{}", 2, 10), BUS_ERROR, "%s refused",
		       bad_ids[i].why);
	is_int(bus_send(p, ID, "", 0, 10), BUS_ERROR, "empty message refused");
	is_int(bus_send(p, ID, NULL, 5, 10), BUS_ERROR, "NULL message refused");
	is_int(bus_send(NULL, ID, "{}", 2, 10), BUS_ERROR, "NULL path refused");
	is_int(bus_send("", ID, "{}", 2, 10), BUS_ERROR, "empty path refused");
	memset(longpath, 'x', sizeof(longpath) - 1);
	longpath[0] = '/';
	longpath[sizeof(longpath) - 1] = '\0';
	is_int(bus_send(longpath, ID, "{}", 2, 10), BUS_ERROR, "path over sun_path refused");
	drain(l);
}

static void
test_gone(void)
{
	struct sockaddr_un sa;
	char path[128];
	int fd;

	snprintf(path, sizeof(path), "%s/nobody.sock", tdir);
	is_int(bus_send(path, ID, "{}", 2, 100), BUS_GONE, "missing socket is BUS_GONE");
	snprintf(path, sizeof(path), "%s/no/such/dir.sock", tdir);
	is_int(bus_send(path, ID, "{}", 2, 100), BUS_GONE, "missing directory is BUS_GONE");
	/* A socket file whose process is gone (bound, then closed). */
	snprintf(path, sizeof(path), "%s/stale.sock", tdir);
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_DGRAM, 0);
	ok(fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0, "stale socket made");
	close(fd);
	is_int(bus_send(path, ID, "{}", 2, 100), BUS_GONE, "stale socket is BUS_GONE");
	unlink(path);
	/* A stream socket there (say, a FastCGI socket): misconfiguration. */
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	ok(fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(fd, 1) == 0,
	   "stream socket made");
	is_int(bus_send(path, ID, "{}", 2, 100), BUS_ERROR, "stream socket is BUS_ERROR");
	close(fd);
	unlink(path);
}

struct drainer {
	struct bus_listener *l;
	int delay_ms;
	int got;
};

static void *
drainer_run(void *arg)
{
	struct drainer *d = arg;
	struct bus_msg m;

	usleep((useconds_t)d->delay_ms * 1000);
	for (int i = 0; i < 1000; i++) {
		if (bus_recv(d->l, &m, 200) != BUS_OK)
			break;
		d->got++;
		bus_msg_free(&m);
	}
	return NULL;
}

static void
test_busy(struct bus_listener *l)
{
	const char *p = bus_listener_path(l);
	struct drainer d = {l, 150, 0};
	pthread_t th;
	double t0, el;
	int n = 0, rc = BUS_OK;

	/* Nobody reads: the kernel queue fills (net.unix.max_dgram_qlen). */
	while (n < 10000 && (rc = bus_send(p, ID, "{\"x\":1}", 7, 0)) == BUS_OK)
		n++;
	is_int(rc, BUS_BUSY, "full queue with timeout 0 is BUS_BUSY");
	ok(n >= 1 && n < 10000, "queue held %d messages before filling", n);
	t0 = now_ms();
	rc = bus_send(p, ID, "{\"x\":2}", 7, 200);
	el = now_ms() - t0;
	is_int(rc, BUS_BUSY, "full queue with timeout 200 ms is BUS_BUSY");
	ok(el >= 190 && el < 1000, "BUS_BUSY after the timeout (%.0f ms)", el);
	/* A waiting sender goes through as soon as the queue drains. */
	pthread_create(&th, NULL, drainer_run, &d);
	t0 = now_ms();
	rc = bus_send(p, ID, "{\"x\":3}", 7, 3000);
	el = now_ms() - t0;
	pthread_join(th, NULL);
	is_int(rc, BUS_OK, "waiting sender delivered once the receiver drains");
	ok(el >= 100 && el < 1000, "released by the drain, not the timeout (%.0f ms)", el);
	is_int(d.got, n + 1, "every queued message was received");
}

static int
raw_send(const char *path, const void *p, size_t n, int fd_to_pass)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int))];
	} ctl;
	struct sockaddr_un sa;
	struct iovec iov = {.iov_base = (void *)(uintptr_t)p, .iov_len = n};
	struct msghdr mh;
	int s = socket(AF_UNIX, SOCK_DGRAM, 0), rc;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	memset(&mh, 0, sizeof(mh));
	memset(&ctl, 0, sizeof(ctl));
	mh.msg_name = &sa;
	mh.msg_namelen = sizeof(sa);
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	if (fd_to_pass >= 0) {
		struct cmsghdr *cm;

		mh.msg_control = ctl.buf;
		mh.msg_controllen = sizeof(ctl.buf);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &fd_to_pass, sizeof(int));
	}
	rc = sendmsg(s, &mh, 0) >= 0 ? 0 : -1;
	close(s);
	return rc;
}

/* Header for hand-made datagrams. */
static size_t
mkhdr(unsigned char *b, int kind, size_t idlen, unsigned len)
{
	memcpy(b, "MGB1", 4);
	b[4] = (unsigned char)kind;
	b[5] = (unsigned char)idlen;
	b[6] = b[7] = 0;
	b[8] = (unsigned char)(len >> 24);
	b[9] = (unsigned char)(len >> 16);
	b[10] = (unsigned char)(len >> 8);
	b[11] = (unsigned char)len;
	return 12;
}

static void
test_malformed(struct bus_listener *l)
{
	const char *p = bus_listener_path(l);
	unsigned char b[256];
	struct bus_msg m;
	size_t h;
	int fds0, mfd;

	drain(l);
	fds0 = count_fds();
	raw_send(p, "MG", 2, -1);
	is_int(bus_recv(l, &m, 500), BUS_ERROR, "short datagram refused");
	h = mkhdr(b, 1, 3, 2);
	memcpy(b, "XXXX", 4);
	memcpy(b + h, "abc{}", 5);
	raw_send(p, b, h + 5, -1);
	is_int(bus_recv(l, &m, 500), BUS_ERROR, "bad magic refused");
	h = mkhdr(b, 7, 3, 2);
	memcpy(b + h, "abc{}", 5);
	raw_send(p, b, h + 5, -1);
	is_int(bus_recv(l, &m, 500), BUS_ERROR, "unknown kind refused");
	h = mkhdr(b, 1, 0, 2);
	memcpy(b + h, "{}", 2);
	raw_send(p, b, h + 2, -1);
	is_int(bus_recv(l, &m, 500), BUS_ERROR, "empty session id refused");
	h = mkhdr(b, 1, 3, 9);
	memcpy(b + h, "abc{}", 5);
	raw_send(p, b, h + 5, -1);
	is_int(bus_recv(l, &m, 500), BUS_ERROR, "length longer than the datagram refused");
	h = mkhdr(b, 1, 3, 1);
	memcpy(b + h, "abc{}", 5);
	raw_send(p, b, h + 5, -1);
	is_int(bus_recv(l, &m, 500), BUS_ERROR, "trailing bytes refused");
	h = mkhdr(b, 1, 3, BUS_MSG_MAX + 1);
	memcpy(b + h, "abc{}", 5);
	raw_send(p, b, h + 5, -1);
	is_int(bus_recv(l, &m, 500), BUS_ERROR, "declared length over BUS_MSG_MAX refused");
	h = mkhdr(b, 2, 3, 2);
	memcpy(b + h, "abc", 3);
	raw_send(p, b, h + 3, -1);
	is_int(bus_recv(l, &m, 500), BUS_ERROR, "memfd kind without a descriptor refused");
	mfd = memfd_create("t", MFD_CLOEXEC);
	ok(mfd >= 0 && write(mfd, "{}{}", 4) == 4, "memfd for hostile tests");
	raw_send(p, b, h + 3, mfd);
	is_int(bus_recv(l, &m, 500), BUS_ERROR, "memfd whose size differs from the header refused");
	h = mkhdr(b, 1, 3, 2);
	memcpy(b + h, "abc{}", 5);
	raw_send(p, b, h + 5, mfd);
	is_int(bus_recv(l, &m, 500), BUS_ERROR, "inline message carrying a descriptor refused");
	raw_send(p, b, h + 5, STDIN_FILENO);
	is_int(bus_recv(l, &m, 500), BUS_ERROR, "inline message carrying stdin refused");
	close(mfd);
	is_int(count_fds(), fds0, "every descriptor received with a bad datagram was closed");
	raw_send(p, b, h + 5, -1);
	is_int(bus_recv(l, &m, 500), BUS_OK, "a well-formed datagram still gets through");
	ok(m.data != NULL && strcmp(m.data, "{}") == 0 && strcmp(m.session_id, "abc") == 0,
	   "and is decoded");
	bus_msg_free(&m);
	is_int(bus_recv(l, &m, 0), BUS_AGAIN, "empty queue, timeout 0: BUS_AGAIN");
	{
		double t0 = now_ms(), el;

		is_int(bus_recv(l, &m, 50), BUS_AGAIN, "empty queue, timeout 50: BUS_AGAIN");
		el = now_ms() - t0;
		ok(el >= 45 && el < 1000, "waited the timeout (%.0f ms)", el);
	}
}

#define SENDERS 8
#define PER_SENDER 300

struct sender {
	const char *path;
	int idx;
	int ok;
	int busy;
};

static void *
sender_run(void *arg)
{
	struct sender *s = arg;
	char msg[64], id[16];

	snprintf(id, sizeof(id), "s%d", s->idx);
	for (int i = 0; i < PER_SENDER; i++) {
		int n = snprintf(msg, sizeof(msg), "{\"seq\":%d}", i);
		int rc = bus_send(s->path, id, msg, (size_t)n, 5000);

		if (rc == BUS_OK)
			s->ok++;
		else if (rc == BUS_BUSY)
			s->busy++;
	}
	return NULL;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void
test_many(struct bus_listener *l)
{
	struct sender s[SENDERS];
	pthread_t th[SENDERS];
	int next[SENDERS] = {0}, inorder = 1, got = 0, okall = 0;
	struct bus_msg m;

	drain(l);
	for (int i = 0; i < SENDERS; i++) {
		s[i] = (struct sender){bus_listener_path(l), i, 0, 0};
		pthread_create(&th[i], NULL, sender_run, &s[i]);
	}
	while (got < SENDERS * PER_SENDER && bus_recv(l, &m, 3000) == BUS_OK) {
		int who = m.session_id[1] - '0', seq = -1;

		if (who >= 0 && who < SENDERS && sscanf(m.data, "{\"seq\":%d}", &seq) == 1) {
			inorder &= seq == next[who];
			next[who] = seq + 1;
		}
		got++;
		bus_msg_free(&m);
	}
	for (int i = 0; i < SENDERS; i++) {
		pthread_join(th[i], NULL);
		okall += s[i].ok;
	}
	is_int(okall, SENDERS * PER_SENDER, "%d senders: every send reported BUS_OK", SENDERS);
	is_int(got, SENDERS * PER_SENDER, "every message received");
	ok(inorder, "each sender's messages arrive in order");
}

static void
test_latency(struct bus_listener *l)
{
	enum { N = 2000 };
	static double lat[N];
	struct bus_msg m;
	char line[160];
	int n = 0;

	drain(l);
	for (int i = 0; i < N; i++) {
		double t0 = now_ms();

		if (bus_send(bus_listener_path(l), ID, "{\"jsonrpc\":\"2.0\"}", 17, 1000) != BUS_OK ||
		    bus_recv(l, &m, 1000) != BUS_OK)
			break;
		lat[n++] = now_ms() - t0;
		bus_msg_free(&m);
	}
	is_int(n, N, "%d send+receive pairs", N);
	if (n == 0)
		return;
	qsort(lat, (size_t)n, sizeof(lat[0]), cmp_double);
	snprintf(line, sizeof(line), "send->receive in one process: p50 %.3f ms, p99 %.3f ms",
		 lat[n / 2], lat[n * 99 / 100]);
	diag(line);
	ok(lat[n / 2] < 5.0, "p50 under 5 ms");
}

static void
test_sweep(void)
{
	struct sockaddr_un sa;
	char stale[128], live[128], other[128], err[256];
	struct bus_listener *l;
	int fs, fl, fo;

	snprintf(stale, sizeof(stale), "%s/bus-999999.sock", tdir);
	snprintf(live, sizeof(live), "%s/bus-1.sock", tdir);
	snprintf(other, sizeof(other), "%s/other-5.sock", tdir);
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	fs = socket(AF_UNIX, SOCK_DGRAM, 0);
	memcpy(sa.sun_path, stale, strlen(stale) + 1);
	bind(fs, (struct sockaddr *)&sa, sizeof(sa));
	close(fs); /* its process "died" */
	fl = socket(AF_UNIX, SOCK_DGRAM, 0);
	memcpy(sa.sun_path, live, strlen(live) + 1);
	bind(fl, (struct sockaddr *)&sa, sizeof(sa));
	fo = socket(AF_UNIX, SOCK_DGRAM, 0);
	memcpy(sa.sun_path, other, strlen(other) + 1);
	bind(fo, (struct sockaddr *)&sa, sizeof(sa));
	close(fo); /* stale, but not a name the bus owns */
	l = bus_listen(tdir, 0660, err, sizeof(err));
	ok(l != NULL, "listen with mode 0660");
	ok(access(stale, F_OK) != 0, "stale bus socket removed");
	ok(access(live, F_OK) == 0, "live bus socket of another process kept");
	ok(access(other, F_OK) == 0, "foreign file left alone");
	if (l != NULL) {
		struct stat st;

		ok(stat(bus_listener_path(l), &st) == 0 && (st.st_mode & 0777) == 0660,
		   "mode 0660 applied");
		bus_listener_close(l);
	}
	close(fl);
	unlink(live);
	unlink(other);
	l = bus_listen("/nonexistent/dir", 0600, err, sizeof(err));
	ok(l == NULL && strstr(err, "/nonexistent/dir") != NULL, "missing runtime_dir: %s", err);
	l = bus_listen("/tmp/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		       "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
		       0600, err, sizeof(err));
	ok(l == NULL && strstr(err, "too long") != NULL, "runtime_dir too long: %s", err);
}

int
main(void)
{
	struct bus_listener *l;
	char err[256], path[128];

	snprintf(tdir, sizeof(tdir), "/tmp/test_bus.XXXXXX");
	if (mkdtemp(tdir) == NULL) {
		printf("Bail out! mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	l = bus_listen(tdir, 0600, err, sizeof(err));
	if (!ok(l != NULL, "bus_listen in a fresh directory")) {
		printf("# %s\n", err);
		return tap_done();
	}
	test_listen(l);
	test_sizes(l);
	test_args(l);
	test_gone();
	test_busy(l);
	test_malformed(l);
	test_many(l);
	test_latency(l);
	snprintf(path, sizeof(path), "%s", bus_listener_path(l));
	bus_listener_close(l);
	ok(access(path, F_OK) != 0, "bus_listener_close removes the socket");
	is_int(bus_send(path, ID, "{}", 2, 100), BUS_GONE, "send after close is BUS_GONE");
	bus_listener_close(NULL);
	test_sweep();
	rmdir(tdir);
	return tap_done();
}
