/*
 * log.c — logfmt lines on stderr.
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

enum log_level log_threshold = LOG_INFO;
int log_structured;

static const char *const level_names[] = { "debug", "info", "warn", "error" };

static void put_value(FILE *f, const char *v)
{
	if (*v && !strpbrk(v, " =\"\\\n\r\t")) {
		fputs(v, f);
		return;
	}
	fputc('"', f);
	for (; *v; v++) {
		switch (*v) {
		case '"': fputs("\\\"", f); break;
		case '\\': fputs("\\\\", f); break;
		case '\n': fputs("\\n", f); break;
		case '\r': fputs("\\r", f); break;
		case '\t': fputs("\\t", f); break;
		default: fputc(*v, f);
		}
	}
	fputc('"', f);
}

void log_event(enum log_level level, const char *msg, ...)
{
	if (level < log_threshold)
		return;
	char ts[32];
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);

	flockfile(stderr);
	fprintf(stderr, "ts=%s level=%s msg=", ts, level_names[level]);
	put_value(stderr, msg);
	va_list ap;
	va_start(ap, msg);
	for (const char *key; (key = va_arg(ap, const char *));) {
		const char *value = va_arg(ap, const char *);
		if (!value)
			continue;
		fprintf(stderr, " %s=", key);
		put_value(stderr, value);
	}
	va_end(ap);
	fputc('\n', stderr);
	funlockfile(stderr);
}
