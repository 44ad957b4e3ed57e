/*
 * Replays a fuzz target's corpus without libFuzzer, so every test run (gcc,
 * ASan/UBSan) exercises what the fuzzer found.  Prints TAP: one line per file.
 *   replay_<target> FILE...
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
main(int argc, char **argv)
{
	int n = 0;

	for (int i = 1; i < argc; i++) {
		FILE *fp = fopen(argv[i], "rb");
		unsigned char *data;
		long size;

		if (fp == NULL || fseek(fp, 0, SEEK_END) != 0 || (size = ftell(fp)) < 0 ||
		    fseek(fp, 0, SEEK_SET) != 0) {
			printf("not ok %d - cannot read %s\n", ++n, argv[i]);
			if (fp != NULL)
				fclose(fp);
			continue;
		}
		data = malloc((size_t)size + 1);
		if (data == NULL || fread(data, 1, (size_t)size, fp) != (size_t)size) {
			printf("not ok %d - cannot read %s\n", ++n, argv[i]);
		} else {
			LLVMFuzzerTestOneInput(data, (size_t)size);
			printf("ok %d - %s\n", ++n, argv[i]);
		}
		free(data);
		fclose(fp);
	}
	printf("1..%d\n", n);
	return 0;
}
