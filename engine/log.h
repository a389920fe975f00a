/*
 * log.h — one line per event on stderr, in logfmt:
 *
 *   ts=2025-09-01T09:30:00Z level=warn msg="policy error" org=la:355 file=...
 *
 * Values are quoted when they need it. Never log pupil names or secrets.
 */
#ifndef ROLLCALL_LOG_H
#define ROLLCALL_LOG_H

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

/* Events below this level are dropped: -q gives LOG_WARN, -v LOG_DEBUG. */
extern enum log_level log_threshold;

/* Set by long-running commands: error() lines become logfmt events too, so
 * that every line a daemon writes parses the same way. */
extern int log_structured;

/* msg, then key and value strings in pairs, ended by NULL. A NULL value is
 * skipped. */
void log_event(enum log_level level, const char *msg, ...);

#endif
