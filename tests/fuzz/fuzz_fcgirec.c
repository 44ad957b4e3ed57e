/* Fuzz target: FastCGI record parsing (the sse program's own FastCGI layer).
 * The first byte picks the size of the pieces the rest is fed in, so input
 * split at odd boundaries is covered too. */
#include <stdint.h>
#include <string.h>

#include "fcgirec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Feed in[0..n) until the parser wants more; 1 when it failed. */
static int
fuzz_feed(struct fcgirec *p, const uint8_t *in, size_t n)
{
	size_t off = 0;

	while (off <= n) {
		struct fcgirec_ev ev;
		size_t used = 0;
		enum fcgirec_event r = fcgirec_feed(p, in + off, n - off, &used, &ev);

		if (used > n - off || r != ev.type || ev.reply_len > sizeof(ev.reply))
			__builtin_trap();
		off += used;
		if (r == FCGIREC_NONE) {
			if (off != n)
				__builtin_trap(); /* NONE means everything was taken */
			return 0;
		}
		if (r == FCGIREC_ERROR)
			return 1;
		if (r == FCGIREC_PARAMS) {
			char **env = fcgirec_env(p);

			/* Every entry is NAME=VALUE with a non-empty name. */
			for (size_t i = 0; env != NULL && env[i] != NULL; i++)
				if (env[i][0] == '=' || strchr(env[i], '=') == NULL)
					__builtin_trap();
		}
		if (r == FCGIREC_STDIN && ev.len > 0 && (ev.data < in || ev.data + ev.len > in + n))
			__builtin_trap();
		if (r == FCGIREC_ABORT)
			fcgirec_end_request(p);
	}
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fcgirec p;
	size_t step;

	if (size == 0)
		return 0;
	step = (size_t)data[0] + 1;
	data++;
	size--;
	fcgirec_init(&p);
	for (size_t i = 0; i < size; i += step) {
		size_t n = size - i < step ? size - i : step;

		if (fuzz_feed(&p, data + i, n))
			break;
	}
	fcgirec_free(&p);
	return 0;
}
