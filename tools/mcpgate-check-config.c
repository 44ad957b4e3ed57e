/*
 * mcpgate-check-config [FILE]: load a configuration exactly as the programs
 * do and report the first problem (file:line: key: problem).  Also checks
 * that the key file loads and the store can be opened.  Exit 0 when good.
 */
#include <stdio.h>

#include "config.h"
#include "crypto.h"
#include "store.h"

int
main(int argc, char **argv)
{
	const char *path = argc > 1 ? argv[1] : config_path_from_env();
	struct crypto_keyring ring;
	struct config cfg;
	struct store *st;
	char err[1024];

	if (argc > 2) {
		fprintf(stderr, "usage: mcpgate-check-config [FILE]\n");
		return 2;
	}
	if (config_load(&cfg, path, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	if (crypto_keyring_load(&ring, cfg.key_file, 0, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s: key_file: %s\n", path, err);
		return 1;
	}
	crypto_keyring_wipe(&ring);
	st = store_open(cfg.store, (unsigned)cfg.store_lock_timeout_ms, err, sizeof(err));
	if (st == NULL) {
		fprintf(stderr, "%s: store: %s\n", path, err);
		return 1;
	}
	store_close(st);
	printf("%s: ok (public_url %s, identity %s)\n", path, cfg.public_url,
	       cfg.identity == CONFIG_IDENTITY_OIDC ? "oidc" : "remote-user");
	config_wipe(&cfg);
	return 0;
}
