/*
 * Helpers shared by the store's unit tests (test_store*.c): clocks, the
 * removal of a test directory, and GDBM's own check of a file.
 */
#ifndef MCPGATE_TEST_STORE_UTIL_H
#define MCPGATE_TEST_STORE_UTIL_H

#include <errno.h>
#include <ftw.h>
#include <gdbm.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>

static inline double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline void
sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* Walk the whole file with GDBM's extra checks; record count or -1. */
static inline long
gdbm_verify_count(const char *path)
{
	GDBM_FILE dbf = gdbm_open(path, 0, GDBM_READER | GDBM_NOLOCK | GDBM_XVERIFY, 0, NULL);
	datum k, next;
	long n = 0, unreadable = 0;

	if (dbf == NULL)
		return -1;
	for (k = gdbm_firstkey(dbf); k.dptr != NULL; k = next) {
		datum v = gdbm_fetch(dbf, k);

		unreadable += v.dptr == NULL;
		free(v.dptr);
		next = gdbm_nextkey(dbf, k);
		free(k.dptr);
		n++;
	}
	if (gdbm_last_errno(dbf) != GDBM_ITEM_NOT_FOUND || unreadable > 0)
		n = -1;
	gdbm_close(dbf);
	return n;
}

/* nftw callback for removing a test directory (FTW_DEPTH | FTW_PHYS). */
static inline int
cleanup_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

#endif
