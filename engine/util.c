/*
 * util.c — error reporting, checked allocation, and text made fit to leave
 * rollcall (text_safe and the JSON and SQLite column helpers built on it).
 */
#include "util.h"

#include "log.h"

#include <jansson.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <string.h>

void error(const char *fmt, ...)
{
	char msg[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (log_structured) {
		log_event(LOG_ERROR, msg, NULL); /* which escapes what it must */
		return;
	}
	/* A message may quote a file name or an argument: no byte of it may
	 * reach the terminal as an escape or as text that is not UTF-8. */
	char *safe = text_safe(msg, strlen(msg), NULL);
	size_t len = strlen(safe);
	char *line = xmalloc(len + sizeof "rollcall: \n");
	memcpy(line, "rollcall: ", 10);
	memcpy(line + 10, safe, len);
	line[10 + len] = '\n';
	fwrite(line, 1, len + 11, stderr); /* one line, one write */
	free(line);
	free(safe);
}

static void *checked(void *p, size_t n)
{
	if (!p && n) {
		fprintf(stderr, "rollcall: out of memory (%zu bytes)\n", n);
		abort();
	}
	return p;
}

void *xmalloc(size_t n)
{
	return checked(malloc(n), n);
}

void *xcalloc(size_t n, size_t size)
{
	return checked(calloc(n, size), n * size);
}

void *xrealloc(void *p, size_t n)
{
	return checked(realloc(p, n), n);
}

char *xstrdup(const char *s)
{
	return strcpy(xmalloc(strlen(s) + 1), s);
}

/* jansson allocates through xmalloc too, so that a JSON value is never
 * NULL for want of memory: json_object(), json_dumps() and the rest either
 * succeed or stop the process. Before this, a failed allocation in a
 * policy's params JSON recorded an action with params NULL, as if from
 * before schema 5 (found by tests/test_faults.c, one allocation failing).
 * Set before main, so that no thread ever sees it change; every program
 * linked with this file (rollcall, the tests, the tools) gets it. */
__attribute__((constructor)) static void json_allocates_checked(void)
{
	json_set_alloc_funcs(xmalloc, free);
}

/* The length of the valid UTF-8 sequence at p (before end), or 0 if p does
 * not begin one: overlong forms, surrogates and values past U+10FFFF are
 * not valid. */
static int utf8_sequence(const unsigned char *p, const unsigned char *end)
{
	unsigned c = *p;
	int more;
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		more = 1;
	else if (c >= 0xe0 && c <= 0xef)
		more = 2;
	else if (c >= 0xf0 && c <= 0xf4)
		more = 3;
	else
		return 0;
	if (end - p <= more)
		return 0;
	unsigned cp = c & (0x3f >> more);
	for (int i = 1; i <= more; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if ((more == 2 && cp < 0x800) || (more == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return more + 1;
}

static int is_control(unsigned c)
{
	return c < 0x20 || c == 0x7f;
}

int text_clean(const char *s, int len)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + len;
	while (p < end) {
		int n = utf8_sequence(p, end);
		if (n == 0 || is_control(*p))
			return 0;
		p += n;
	}
	return 1;
}

char *text_safe(const char *s, size_t len, const char *keep)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + len;
	char *out = xmalloc(3 * len + 1), *o = out; /* U+FFFD is 3 bytes */
	while (p < end) {
		int n = utf8_sequence(p, end);
		if (n == 0 || (is_control(*p) && !(*p && keep && strchr(keep, *p)))) {
			memcpy(o, "\xef\xbf\xbd", 3);
			o += 3;
			p += n ? n : 1;
			continue;
		}
		memcpy(o, p, (size_t)n);
		o += n;
		p += n;
	}
	*o = '\0';
	return out;
}

json_t *text_json(const char *s, size_t len, const char *keep)
{
	if (!s)
		return json_null();
	char *safe = text_safe(s, len, keep);
	json_t *j = json_string(safe); /* UTF-8 with no NUL: only memory can fail it */
	free(safe);
	return checked(j, len + 1);
}

json_t *column_json(sqlite3_stmt *row, int col, const char *keep)
{
	/* text first, then its length: the order SQLite documents as safe */
	const char *s = (const char *)sqlite3_column_text(row, col);
	return text_json(s, s ? (size_t)sqlite3_column_bytes(row, col) : 0, keep);
}

char *column_safe(sqlite3_stmt *row, int col, const char *keep)
{
	const char *s = (const char *)sqlite3_column_text(row, col);
	return s ? text_safe(s, (size_t)sqlite3_column_bytes(row, col), keep) : NULL;
}

double monotonic_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static long long clock_ms(clockid_t clock)
{
	struct timespec ts;
	clock_gettime(clock, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

long long monotonic_ms(void)
{
	return clock_ms(CLOCK_MONOTONIC);
}

long long wall_ms(void)
{
	return clock_ms(CLOCK_REALTIME);
}
