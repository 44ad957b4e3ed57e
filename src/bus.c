/*
 * bus: message -> sse delivery over one Unix datagram socket per sse
 * process.  See bus.h for the contract and the wire format.
 *
 * Sending.  The sender connect()s its datagram socket to the receiver's
 * path before sending: only a connected Unix datagram socket reports the
 * receiver's queue in poll(POLLOUT) (unconnected ones see only their own
 * send buffer), which is what makes the bounded wait for a full queue
 * (max_dgram_qlen, 10 by default) event-driven instead of a retry loop.
 */
#include "bus.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
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

#include "log.h"

#define BUS_MAGIC "MGB1"
#define BUS_HDR_LEN 12
#define BUS_KIND_INLINE 1
#define BUS_KIND_MEMFD 2
#define BUS_RXBUF (BUS_HDR_LEN + BUS_ID_MAX + BUS_INLINE_MAX)
#define BUS_MAX_FDS 4 /* room to receive (and close) a few stray descriptors */

struct bus_listener {
	int fd;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	unsigned char *rx; /* BUS_RXBUF bytes */
};

const char *
bus_strerror(int status)
{
	switch (status) {
	case BUS_OK: return "ok";
	case BUS_GONE: return "gone";
	case BUS_BUSY: return "busy";
	case BUS_TOOBIG: return "too big";
	case BUS_AGAIN: return "nothing yet";
	default: return "error";
	}
}

/* ---- common ---- */

static int
bus_addr(const char *path, struct sockaddr_un *sa)
{
	size_t n = strlen(path);

	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (n == 0 || n >= sizeof(sa->sun_path))
		return -1;
	memcpy(sa->sun_path, path, n + 1);
	return 0;
}

/* Session ids are base64url; accept any visible ASCII up to BUS_ID_MAX so
 * the bus does not need to know the session format, but never a space or
 * control character that could garble a log line or an SSE frame. */
static int
bus_id_ok(const char *id, size_t n)
{
	if (n == 0 || n > BUS_ID_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)id[i];

		if (c <= 0x20 || c >= 0x7f)
			return 0;
	}
	return 1;
}

static long long
bus_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
bus_hdr(unsigned char *h, int kind, size_t idlen, size_t len)
{
	memcpy(h, BUS_MAGIC, 4);
	h[4] = (unsigned char)kind;
	h[5] = (unsigned char)idlen;
	h[6] = h[7] = 0;
	h[8] = (unsigned char)(len >> 24);
	h[9] = (unsigned char)(len >> 16);
	h[10] = (unsigned char)(len >> 8);
	h[11] = (unsigned char)len;
}

/* ---- sending ---- */

/* Errors that mean "nobody listens there": the sse process has exited
 * (ECONNREFUSED: stale socket file) or never existed (ENOENT). */
static int
bus_errno_gone(int e)
{
	return e == ENOENT || e == ECONNREFUSED || e == ENOTDIR;
}

static int
bus_connect(const char *sock_path, int *fdp)
{
	struct sockaddr_un sa;
	int fd;

	*fdp = -1;
	if (bus_addr(sock_path, &sa) != 0)
		return BUS_ERROR;
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return BUS_ERROR;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		int e = errno;

		close(fd);
		if (bus_errno_gone(e))
			return BUS_GONE;
		/* EPROTOTYPE: a stream socket (e.g. a FastCGI socket) at that
		 * path; EACCES: wrong owner.  Both are configuration errors. */
		log_msg(LOG_ERROR, "msg=\"cannot reach sse socket\" error=\"%s\"", strerror(e));
		return BUS_ERROR;
	}
	*fdp = fd;
	return BUS_OK;
}

/* Send one datagram, waiting for queue space until deadline (monotonic ms).
 * Returns BUS_* or, for EMSGSIZE/ENOBUFS (too large for an inline
 * datagram on this host), BUS_TOOBIG so the caller can switch to a memfd. */
static int
bus_xmit(int fd, struct msghdr *mh, long long deadline)
{
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLOUT};
		long long left;

		if (sendmsg(fd, mh, MSG_NOSIGNAL | MSG_DONTWAIT) >= 0)
			return BUS_OK;
		if (errno == EINTR)
			continue;
		if (bus_errno_gone(errno))
			return BUS_GONE;
		if (errno == EMSGSIZE || errno == ENOBUFS)
			return BUS_TOOBIG;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return BUS_ERROR;
		left = deadline - bus_now_ms();
		if (left <= 0)
			return BUS_BUSY;
		if (poll(&p, 1, (int)(left > 60000 ? 60000 : left)) < 0 && errno != EINTR)
			return BUS_ERROR;
	}
}

static int
bus_send_inline(int fd, const char *id, size_t idlen, const void *msg, size_t len,
		long long deadline)
{
	unsigned char h[BUS_HDR_LEN];
	struct iovec iov[3];
	struct msghdr mh;

	bus_hdr(h, BUS_KIND_INLINE, idlen, len);
	iov[0].iov_base = h;
	iov[0].iov_len = sizeof(h);
	iov[1].iov_base = (void *)(uintptr_t)id;
	iov[1].iov_len = idlen;
	iov[2].iov_base = (void *)(uintptr_t)msg;
	iov[2].iov_len = len;
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = iov;
	mh.msg_iovlen = 3;
	return bus_xmit(fd, &mh, deadline);
}

/* A sealed anonymous file holding msg: the receiver can trust its size. */
static int
bus_memfd(const void *msg, size_t len)
{
	const char *p = msg;
	size_t off = 0;
	int fd = memfd_create("mcpgate-bus", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	if (fd < 0)
		return -1;
	while (off < len) {
		ssize_t n = write(fd, p + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			goto fail;
		off += (size_t)n;
	}
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) != 0)
		goto fail;
	return fd;
fail:
	close(fd);
	return -1;
}

static int
bus_send_memfd(int fd, const char *id, size_t idlen, const void *msg, size_t len,
	       long long deadline)
{
	unsigned char h[BUS_HDR_LEN];
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int))];
	} ctl;
	struct iovec iov[2];
	struct msghdr mh;
	struct cmsghdr *cm;
	int mfd, rc;

	mfd = bus_memfd(msg, len);
	if (mfd < 0)
		return BUS_ERROR;
	bus_hdr(h, BUS_KIND_MEMFD, idlen, len);
	iov[0].iov_base = h;
	iov[0].iov_len = sizeof(h);
	iov[1].iov_base = (void *)(uintptr_t)id;
	iov[1].iov_len = idlen;
	memset(&mh, 0, sizeof(mh));
	memset(&ctl, 0, sizeof(ctl));
	mh.msg_iov = iov;
	mh.msg_iovlen = 2;
	mh.msg_control = ctl.buf;
	mh.msg_controllen = sizeof(ctl.buf);
	cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &mfd, sizeof(int));
	rc = bus_xmit(fd, &mh, deadline);
	close(mfd);
	return rc == BUS_TOOBIG ? BUS_ERROR : rc;
}

int
bus_send(const char *sock_path, const char *session_id, const void *msg, size_t len,
	 unsigned timeout_ms)
{
	long long deadline = bus_now_ms() + timeout_ms;
	size_t idlen;
	int fd, rc;

	if (sock_path == NULL || session_id == NULL || (msg == NULL && len > 0) || len == 0)
		return BUS_ERROR;
	idlen = strnlen(session_id, BUS_ID_MAX + 1);
	if (!bus_id_ok(session_id, idlen))
		return BUS_ERROR;
	if (len > BUS_MSG_MAX)
		return BUS_TOOBIG;
	rc = bus_connect(sock_path, &fd);
	if (rc != BUS_OK)
		return rc;
	rc = BUS_TOOBIG;
	if (len <= BUS_INLINE_MAX)
		rc = bus_send_inline(fd, session_id, idlen, msg, len, deadline);
	if (rc == BUS_TOOBIG)
		rc = bus_send_memfd(fd, session_id, idlen, msg, len, deadline);
	close(fd);
	return rc;
}

/* ---- receiving ---- */

/* Remove <dir>/name when it is a socket nobody listens on. */
static void
bus_sweep_one(const char *dir, const char *name)
{
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct stat st;
	int fd;

	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path))
		return;
	if (lstat(path, &st) != 0 || !S_ISSOCK(st.st_mode))
		return;
	if (bus_connect(path, &fd) == BUS_GONE) {
		if (unlink(path) == 0)
			log_msg(LOG_INFO, "msg=\"removed stale bus socket\" name=%s", name);
		return;
	}
	if (fd >= 0)
		close(fd);
}

static int
bus_name_ours(const char *name)
{
	size_t n = strlen(name), d;

	if (n < 10 || strncmp(name, "bus-", 4) != 0)
		return 0;
	d = strspn(name + 4, "0123456789");
	if (d == 0)
		return 0;
	return strcmp(name + 4 + d, ".sock") == 0 || strcmp(name + 4 + d, ".tmp") == 0;
}

static void
bus_sweep(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int budget = 10000; /* bounded even in a directory full of junk */

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL && budget-- > 0)
		if (bus_name_ours(e->d_name))
			bus_sweep_one(dir, e->d_name);
	closedir(d);
}

/* Bind under a temporary name, set the mode, then rename into place, so the
 * final name never exists with the wrong mode. */
static int
bus_bind(struct bus_listener *l, const char *dir, unsigned mode, char *err, size_t errlen)
{
	struct sockaddr_un sa;
	char tmp[sizeof(sa.sun_path)];
	long pid = (long)getpid();

	if (snprintf(l->path, sizeof(l->path), "%s/bus-%ld.sock", dir, pid) >= (int)sizeof(l->path) ||
	    snprintf(tmp, sizeof(tmp), "%s/bus-%ld.tmp", dir, pid) >= (int)sizeof(tmp)) {
		snprintf(err, errlen, "runtime_dir %s: path too long for a socket", dir);
		return -1;
	}
	bus_addr(tmp, &sa);
	/* Our own pid's names can only be left over from a dead process. */
	unlink(tmp);
	if (bind(l->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		snprintf(err, errlen, "runtime_dir %s: cannot bind socket: %s", dir, strerror(errno));
		return -1;
	}
	if (chmod(tmp, mode & 0777) != 0 || rename(tmp, l->path) != 0) {
		snprintf(err, errlen, "runtime_dir %s: cannot install socket: %s", dir,
			 strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
}

struct bus_listener *
bus_listen(const char *dir, unsigned mode, char *err, size_t errlen)
{
	struct bus_listener *l = calloc(1, sizeof(*l));

	if (l != NULL)
		l->fd = -1;
	if (l == NULL || (l->rx = malloc(BUS_RXBUF)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	l->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (l->fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		goto fail;
	}
	bus_sweep(dir);
	if (bus_bind(l, dir, mode, err, errlen) != 0)
		goto fail;
	return l;
fail:
	if (l != NULL) {
		if (l->fd >= 0)
			close(l->fd);
		free(l->rx);
		free(l);
	}
	return NULL;
}

const char *
bus_listener_path(const struct bus_listener *l)
{
	return l->path;
}

int
bus_listener_fd(const struct bus_listener *l)
{
	return l->fd;
}

void
bus_listener_close(struct bus_listener *l)
{
	if (l == NULL)
		return;
	unlink(l->path);
	close(l->fd);
	free(l->rx);
	free(l);
}

void
bus_msg_free(struct bus_msg *m)
{
	if (m == NULL)
		return;
	if (m->data != NULL) {
		explicit_bzero(m->data, m->len);
		free(m->data);
	}
	m->data = NULL;
	m->len = 0;
}

/* Collect the descriptors a datagram carried (at most max); *n gets their count. */
static void
bus_cmsg_fds(struct msghdr *mh, int *fds, size_t max, size_t *n)
{
	*n = 0;
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm != NULL; cm = CMSG_NXTHDR(mh, cm)) {
		size_t k;

		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k && *n < max; i++)
			memcpy(&fds[(*n)++], CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
	}
}

static int
bus_read_memfd(int fd, char *out, size_t len)
{
	struct stat st;
	size_t off = 0;

	/* A memfd is a regular file; its size was sealed by the sender. */
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size < 0 ||
	    (size_t)st.st_size != len)
		return -1;
	while (off < len) {
		ssize_t n = pread(fd, out + off, len - off, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		off += (size_t)n;
	}
	return 0;
}

/* Check a received datagram (n bytes in l->rx, nfd descriptors) and copy
 * its message into out. */
static int
bus_parse(struct bus_listener *l, size_t n, const int *fds, size_t nfd, struct bus_msg *out)
{
	const unsigned char *h = l->rx;
	size_t idlen, len;
	int kind;

	if (n < BUS_HDR_LEN || memcmp(h, BUS_MAGIC, 4) != 0)
		return BUS_ERROR;
	kind = h[4];
	idlen = h[5];
	len = ((size_t)h[8] << 24) | ((size_t)h[9] << 16) | ((size_t)h[10] << 8) | h[11];
	if (!bus_id_ok((const char *)h + BUS_HDR_LEN, idlen) || len == 0 || len > BUS_MSG_MAX)
		return BUS_ERROR;
	if (kind == BUS_KIND_INLINE && (nfd != 0 || n != BUS_HDR_LEN + idlen + len))
		return BUS_ERROR;
	if (kind == BUS_KIND_MEMFD && (nfd != 1 || n != BUS_HDR_LEN + idlen))
		return BUS_ERROR;
	if (kind != BUS_KIND_INLINE && kind != BUS_KIND_MEMFD)
		return BUS_ERROR;
	out->data = malloc(len + 1);
	if (out->data == NULL)
		return BUS_ERROR;
	if (kind == BUS_KIND_INLINE)
		memcpy(out->data, h + BUS_HDR_LEN + idlen, len);
	else if (bus_read_memfd(fds[0], out->data, len) != 0)
		goto fail;
	out->data[len] = '\0';
	out->len = len;
	memcpy(out->session_id, h + BUS_HDR_LEN, idlen);
	out->session_id[idlen] = '\0';
	return BUS_OK;
fail:
	free(out->data);
	out->data = NULL;
	return BUS_ERROR;
}

int
bus_recv(struct bus_listener *l, struct bus_msg *out, int timeout_ms)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(BUS_MAX_FDS * sizeof(int))];
	} ctl;
	struct pollfd p = {.fd = l->fd, .events = POLLIN};
	struct iovec iov = {.iov_base = l->rx, .iov_len = BUS_RXBUF};
	struct msghdr mh;
	int fds[BUS_MAX_FDS];
	size_t nfd = 0;
	ssize_t n;
	int rc;

	memset(out, 0, sizeof(*out));
	if (timeout_ms != 0) {
		int r = poll(&p, 1, timeout_ms);

		if (r == 0 || (r < 0 && errno == EINTR))
			return BUS_AGAIN;
		if (r < 0)
			return BUS_ERROR;
	}
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = ctl.buf;
	mh.msg_controllen = sizeof(ctl.buf);
	n = recvmsg(l->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? BUS_AGAIN
										  : BUS_ERROR;
	bus_cmsg_fds(&mh, fds, BUS_MAX_FDS, &nfd);
	rc = BUS_ERROR;
	if (!(mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)))
		rc = bus_parse(l, (size_t)n, fds, nfd, out);
	for (size_t i = 0; i < nfd; i++)
		close(fds[i]);
	return rc;
}
