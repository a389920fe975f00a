/*
 * log.c — logfmt lines on stderr. Each line is formatted whole in memory and
 * written with one call: stderr is unbuffered, and a line written piece by
 * piece costs a system call a byte and can interleave with another thread's
 * or process's line.
 */
#include "log.h"

#include "util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum log_level log_threshold = LOG_INFO;
int log_structured;

static const char *const level_names[] = { "debug", "info", "warn", "error" };

/* Every control character but NUL: text_safe keeps these for put_value to
 * escape visibly, and replaces only what is not UTF-8. */
static const char controls[] = "\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f"
			       "\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f"
			       "\x7f";

struct line {
	char *s;
	size_t len, size;
};

static void put(struct line *l, const char *s, size_t n)
{
	if (l->len + n + 1 > l->size) {
		while (l->len + n + 1 > l->size)
			l->size = l->size ? 2 * l->size : 256;
		l->s = xrealloc(l->s, l->size);
	}
	memcpy(l->s + l->len, s, n);
	l->len += n;
	l->s[l->len] = '\0';
}

static void puts_line(struct line *l, const char *s)
{
	put(l, s, strlen(s));
}

/* v, quoted when it needs it. Bytes that are not UTF-8 become U+FFFD;
 * control characters are escaped (\n, \r, \t, else \u001b and the like),
 * so a value can neither end the line nor reach a terminal as an escape. */
static void put_value(struct line *l, const char *v)
{
	char *safe = text_safe(v, strlen(v), controls);
	const unsigned char *p = (const unsigned char *)safe;
	int quote = !*p;
	for (; *p && !quote; p++)
		quote = *p <= ' ' || *p == '=' || *p == '"' || *p == '\\' || *p == 0x7f;
	if (!quote) {
		puts_line(l, safe);
		free(safe);
		return;
	}
	put(l, "\"", 1);
	for (p = (const unsigned char *)safe; *p; p++) {
		char esc[8];
		switch (*p) {
		case '"': puts_line(l, "\\\""); break;
		case '\\': puts_line(l, "\\\\"); break;
		case '\n': puts_line(l, "\\n"); break;
		case '\r': puts_line(l, "\\r"); break;
		case '\t': puts_line(l, "\\t"); break;
		default:
			if (*p < ' ' || *p == 0x7f) {
				snprintf(esc, sizeof esc, "\\u%04x", *p);
				puts_line(l, esc);
			} else {
				put(l, (const char *)p, 1);
			}
		}
	}
	put(l, "\"", 1);
	free(safe);
}

char *log_vformat(const char *ts, enum log_level level, const char *msg, va_list ap)
{
	struct line l = { 0 };
	puts_line(&l, "ts=");
	puts_line(&l, ts);
	puts_line(&l, " level=");
	puts_line(&l, level_names[level]);
	puts_line(&l, " msg=");
	put_value(&l, msg);
	for (const char *key; (key = va_arg(ap, const char *));) {
		const char *value = va_arg(ap, const char *);
		if (!value)
			continue;
		put(&l, " ", 1);
		puts_line(&l, key); /* keys are the code's own constants */
		put(&l, "=", 1);
		put_value(&l, value);
	}
	put(&l, "\n", 1);
	return l.s;
}

char *log_format(const char *ts, enum log_level level, const char *msg, ...)
{
	va_list ap;
	va_start(ap, msg);
	char *line = log_vformat(ts, level, msg, ap);
	va_end(ap);
	return line;
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

	va_list ap;
	va_start(ap, msg);
	char *line = log_vformat(ts, level, msg, ap);
	va_end(ap);
	fwrite(line, 1, strlen(line), stderr);
	free(line);
}
