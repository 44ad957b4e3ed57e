/*
 * mcpgate-keygen FILE: create a key file with one fresh 256-bit key (0600).
 * Refuses to overwrite.  To rotate, see the comment at the top of the file.
 */
#include <stdio.h>
#include <time.h>

#include "crypto.h"

int
main(int argc, char **argv)
{
	char err[512], kid[CRYPTO_KID_MAX + 1];
	time_t now = time(NULL);
	struct tm tm;

	if (argc != 2) {
		fprintf(stderr, "usage: mcpgate-keygen FILE\n");
		return 2;
	}
	/* A date-based kid tells an operator at a glance which key is older. */
	gmtime_r(&now, &tm);
	strftime(kid, sizeof(kid), "k%Y%m%d%H%M%S", &tm);
	if (crypto_keyring_generate(argv[1], kid, err, sizeof(err)) != 0) {
		fprintf(stderr, "mcpgate-keygen: %s\n", err);
		return 1;
	}
	return 0;
}
