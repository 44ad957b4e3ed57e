/* Unit tests for src/buf.c (capped buffers) and src/log.c (one safe line per event). */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"
#include "tap.h"

static void
test_buf(void)
{
	struct buf b;
	char *p;
	size_t n;

	buf_init(&b, 16);
	is_int(buf_puts(&b, "hello"), 0, "append");
	is_int(buf_printf(&b, " %d", 42), 0, "printf");
	is_str(b.data, "hello 42", "contents");
	is_int(buf_puts(&b, "-overflowing"), -1, "append past the cap refused");
	ok(b.overflow, "overflow is sticky");
	is_int(buf_puts(&b, "x"), -1, "later appends refused too");
	is_str(b.data, "hello 42", "contents unchanged by refused appends");
	buf_reset(&b);
	is_int(b.len, 0, "reset empties");
	ok(!b.overflow, "reset clears overflow");
	is_int(buf_append(&b, "0123456789abcdef", 16), 0, "exactly the cap fits");
	is_int(buf_append(&b, "", 0), 0, "empty append at the cap");
	is_int(buf_append(&b, "g", 1), -1, "one more byte does not");
	buf_free(&b);
	ok(b.data == NULL && b.len == 0, "free resets");
	buf_free(NULL);

	buf_init(&b, 0);
	is_int(buf_html(&b, "<a href=\"x\">&'</a>"), 0, "html escape");
	is_str(b.data, "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;", "escaped");
	buf_reset(&b);
	is_int(buf_urlenc(&b, "a b/c?d=e&f~g.h_i-j\xc3\xa9"), 0, "url encode");
	is_str(b.data, "a%20b%2Fc%3Fd%3De%26f~g.h_i-j%C3%A9", "encoded");
	p = buf_take(&b, &n);
	ok(p != NULL && n == strlen(p) && b.data == NULL, "take hands over the data");
	free(p);
	for (int i = 0; i < 10000; i++)
		if (buf_puts(&b, "0123456789") != 0)
			break;
	is_int(b.len, 100000, "grows across many appends");
	buf_free(&b);
}

static char *
capture(void (*fn)(void))
{
	int fds[2], saved = dup(STDERR_FILENO);
	static char out[8192];
	ssize_t n;

	if (pipe(fds) != 0)
		return NULL;
	dup2(fds[1], STDERR_FILENO);
	fn();
	dup2(saved, STDERR_FILENO);
	close(saved);
	close(fds[1]);
	n = read(fds[0], out, sizeof(out) - 1);
	close(fds[0]);
	out[n > 0 ? n : 0] = '\0';
	return out;
}

static void
emit_hostile(void)
{
	char q[64];

	log_init("unit");
	log_set_request_id("abc123");
	log_msg(LOG_WARN, "msg=%s", log_quote(q, sizeof(q), "evil\n2026 fake line \"quoted\" \\"));
}

static void
emit_levels(void)
{
	log_set_level(LOG_WARN);
	log_msg(LOG_INFO, "msg=dropped");
	log_msg(LOG_ERROR, "msg=kept");
	log_set_level(LOG_INFO);
	log_set_request_id(NULL);
	log_msg(LOG_INFO, "raw=%s", "a\x01" "b\r\nc");
}

static void
test_log(void)
{
	char *out = capture(emit_hostile), q[8];

	ok(out != NULL && strstr(out, "mcpgate[unit] warn req=abc123 msg=\"evil?2026 fake line "
				       "\\\"quoted\\\" \\\\\"") != NULL,
	   "quoted value escapes newline, quotes and backslash");
	ok(out != NULL && strchr(out, '\n') == out + strlen(out) - 1, "exactly one line");
	out = capture(emit_levels);
	ok(out != NULL && strstr(out, "dropped") == NULL, "below the level is dropped");
	ok(out != NULL && strstr(out, "error req=abc123 msg=kept") != NULL, "error kept");
	ok(out != NULL && strstr(out, "req=- raw=a\\x01b\\x0d\\x0ac") != NULL,
	   "control characters escaped in raw text; request id cleared");
	is_int(log_level_parse("debug"), LOG_DEBUG, "level parse");
	is_int(log_level_parse("loud"), -1, "unknown level");
	is_str(log_quote(q, sizeof(q), "0123456789"), "\"01234\"", "quote truncates within the buffer");
	is_str(log_quote(q, 2, "x"), "", "tiny buffer");
	is_str(log_quote(q, sizeof(q), NULL), "\"\"", "NULL quotes as empty");
}

int
main(void)
{
	test_buf();
	test_log();
	return tap_done();
}
