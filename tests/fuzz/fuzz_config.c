/* Fuzz target: the configuration file parser. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[] = "/tmp/mcpgate-fuzz-config-XXXXXX", err[1024];
	struct config cfg;
	int fd = mkstemp(path);

	if (fd < 0)
		return 0;
	if (write(fd, data, size) == (ssize_t)size)
		(void)config_load(&cfg, path, err, sizeof(err));
	close(fd);
	unlink(path);
	return 0;
}
