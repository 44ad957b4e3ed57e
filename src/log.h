/*
 * log: one structured line per event on stderr (the web server's error log).
 *
 * Lines look like
 *   2026-11-27T17:00:00Z mcpgate[token] warn req=3f9a1c0d2b7e4a51 msg="code reused" client=abc
 * Callers pass key=value text; values that may hold user input go through
 * log_quote() so a hostile value cannot forge a second line.  Never log a
 * secret (token, code, client secret, cookie, upstream token).
 */
#ifndef MCPGATE_LOG_H
#define MCPGATE_LOG_H

#include <stddef.h>

enum log_level {
	LOG_ERROR,
	LOG_WARN,
	LOG_INFO,
	LOG_DEBUG,
	LOG__MAX
};

/* Set the program name shown in every line (static storage, not copied). */
void log_init(const char *prog);
/* Lines above this level are dropped.  Default LOG_INFO. */
void log_set_level(enum log_level level);
/* Parse "error", "warn", "info", "debug"; -1 if unknown. */
int log_level_parse(const char *s);
/* Request id shown in each line until cleared (copied; NULL clears).
 * Thread-local, so the threaded sse program can log per stream. */
void log_set_request_id(const char *id);
/* Write one line; fmt is printf-style key=value text. Newlines and control
 * characters in the formatted text are escaped. */
void log_msg(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Copy s into buf as a double-quoted, escaped, truncated value; returns buf. */
const char *log_quote(char *buf, size_t bufsz, const char *s);

#endif
