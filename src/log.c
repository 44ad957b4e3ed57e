#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *log_prog = "mcpgate";
static enum log_level log_threshold = LOG_INFO;
static _Thread_local char log_reqid[40];

static const char *const log_names[LOG__MAX] = {"error", "warn", "info", "debug"};

void
log_init(const char *prog)
{
	if (prog != NULL)
		log_prog = prog;
}

void
log_set_level(enum log_level level)
{
	if (level < LOG__MAX)
		log_threshold = level;
}

int
log_level_parse(const char *s)
{
	for (int i = 0; i < LOG__MAX; i++)
		if (strcmp(s, log_names[i]) == 0)
			return i;
	return -1;
}

void
log_set_request_id(const char *id)
{
	if (id == NULL) {
		log_reqid[0] = '\0';
		return;
	}
	snprintf(log_reqid, sizeof(log_reqid), "%s", id);
}

/* Escape control characters so one call always yields exactly one line. */
static size_t
log_escape(char *dst, size_t dstsz, const char *src)
{
	size_t o = 0;

	for (; *src != '\0' && o + 5 < dstsz; src++) {
		unsigned char c = (unsigned char)*src;
		if (c < 0x20 || c == 0x7f) {
			o += (size_t)snprintf(dst + o, dstsz - o, "\\x%02x", c);
		} else {
			dst[o++] = (char)c;
		}
	}
	dst[o] = '\0';
	return o;
}

void
log_msg(enum log_level level, const char *fmt, ...)
{
	char raw[2048], line[4096], ts[32];
	struct tm tm;
	time_t now;
	va_list ap;
	int n;

	if (level > log_threshold || level >= LOG__MAX)
		return;
	va_start(ap, fmt);
	vsnprintf(raw, sizeof(raw), fmt, ap);
	va_end(ap);
	now = time(NULL);
	gmtime_r(&now, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
	n = snprintf(line, sizeof(line), "%s mcpgate[%s] %s req=%s ", ts, log_prog,
		     log_names[level], log_reqid[0] != '\0' ? log_reqid : "-");
	if (n < 0 || (size_t)n >= sizeof(line))
		return;
	n += (int)log_escape(line + n, sizeof(line) - (size_t)n - 1, raw);
	line[n++] = '\n';
	/* One write(2) per line keeps lines from concurrent processes whole. */
	if (write(STDERR_FILENO, line, (size_t)n) < 0)
		return;
}

const char *
log_quote(char *buf, size_t bufsz, const char *s)
{
	size_t o = 0;

	if (bufsz < 3) {
		if (bufsz > 0)
			buf[0] = '\0';
		return buf;
	}
	buf[o++] = '"';
	/* Room is always kept for the closing quote and the NUL. */
	for (; s != NULL && *s != '\0' && o + 2 < bufsz; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			if (o + 3 >= bufsz)
				break;
			buf[o++] = '\\';
		}
		buf[o++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
	}
	buf[o++] = '"';
	buf[o] = '\0';
	return buf;
}
