/* Fuzz target: application/x-www-form-urlencoded parsing (queries and form bodies). */
#include <stdint.h>
#include <string.h>

#include "http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_form f;
	size_t count;

	memset(&f, 0, sizeof(f));
	if (http_form_parse((const char *)data, size, HTTP_FIELDS_MAX, &f) == HTTP_OK) {
		for (size_t i = 0; i < f.n; i++) {
			/* Decoded values are C strings: no embedded NUL may survive. */
			if (strlen(f.kv[i].value) != f.kv[i].valuelen)
				__builtin_trap();
			(void)http_form_get(&f, f.kv[i].name, &count);
		}
	}
	http_form_free(&f);
	return 0;
}
