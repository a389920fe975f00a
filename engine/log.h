/*
 * log.h — one line per event on stderr, in logfmt:
 *
 *   ts=2025-09-01T09:30:00Z level=warn msg="policy error" org=la:355 file=...
 *
 * Values are quoted when they need it, and escaped so that a line is valid
 * UTF-8 with no raw control character. Never log pupil names or secrets.
 */
#ifndef ROLLCALL_LOG_H
#define ROLLCALL_LOG_H

#include <stdarg.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

/* Events below this level are dropped: -q gives LOG_WARN, -v LOG_DEBUG. */
extern enum log_level log_threshold;

/* Set by long-running commands: error() lines become logfmt events too, so
 * that every line a daemon writes parses the same way. */
extern int log_structured;

/* msg, then key and value strings in pairs, ended by NULL. A NULL value is
 * skipped. The line is written with one call: threads' lines never mix. */
void log_event(enum log_level level, const char *msg, ...);

/* The line log_event writes, '\n' included, with the time ts, as a new
 * string (the caller frees it). Values are quoted when they need it; in
 * them, bytes that are not UTF-8 become U+FFFD and control characters are
 * escaped (\n, \r, \t, else \u001b and the like): a line is always valid
 * UTF-8 with no control character but its final '\n'. Keys are the caller's
 * constants and are written as they are. */
char *log_format(const char *ts, enum log_level level, const char *msg, ...);
char *log_vformat(const char *ts, enum log_level level, const char *msg, va_list ap);

#endif
