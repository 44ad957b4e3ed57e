/* Fuzz target: access token verification and Bearer header parsing. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "token.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct crypto_keyring ring;
	struct token_access acc;
	char *s = malloc(size + 1);

	if (s == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	memset(&ring, 0, sizeof(ring));
	ring.nkeys = 1;
	memcpy(ring.keys[0].kid, "fz", 3);
	memset(ring.keys[0].key, 7, sizeof(ring.keys[0].key));
	(void)token_from_authorization(s);
	if (token_access_verify(&ring, "https://mcp.example.com/mcp", s, time(NULL), &acc) == TOKEN_OK)
		__builtin_trap(); /* nothing random may ever verify */
	free(s);
	return 0;
}
