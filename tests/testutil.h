/*
 * testutil.h — small helpers shared by the cmocka tests.
 */
#ifndef ROLLCALL_TESTUTIL_H
#define ROLLCALL_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codes.h"
#include "date.h"

static inline int day_of(const char *iso)
{
	int d = date_parse(iso, (int)strlen(iso));
	assert_true(d >= 0);
	return d;
}

static inline int code_of(const char *text)
{
	int c = codes_find(text, (int)strlen(text));
	assert_true(c > 0);
	return c;
}

/* The build directory whose programs the tests run: $ROLLCALL_BUILD, set
 * by `make check` to its own (build/sanitize under `make sanitize`,
 * build/tsan under `make tsan`), else build. */
static inline const char *test_build_dir(void)
{
	const char *build = getenv("ROLLCALL_BUILD");
	return build && *build ? build : "build";
}

/* A fresh directory under /tmp for one test; the caller frees the name. */
static inline char *temp_dir(void)
{
	char *dir = strdup("/tmp/rollcall-test-XXXXXX");
	assert_non_null(mkdtemp(dir));
	return dir;
}

static inline void remove_tree(const char *dir)
{
	char cmd[512];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

static inline void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

#endif
