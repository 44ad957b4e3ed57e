/* Fuzz target: base64url decoding must be strict and round-trip exactly. */
#include <stdint.h>
#include <string.h>

#include "crypto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char out[4096];
	char back[CRYPTO_B64URL_LEN(4096)];
	int n;

	if (size > 4096)
		return 0;
	n = crypto_b64url_decode((const char *)data, size, out, sizeof(out));
	if (n < 0)
		return 0;
	/* What decodes must re-encode to the same text (no padding). */
	if (crypto_b64url_encode(out, (size_t)n, back, sizeof(back)) < 0)
		__builtin_trap();
	if (size > 0 && data[size - 1] != '=' && (strlen(back) != size || memcmp(back, data, size) != 0))
		__builtin_trap();
	return 0;
}
