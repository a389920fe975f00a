/*
 * util.h — the few helpers every module shares: one error path to stderr and
 * allocation that never returns NULL (running out of memory is not an input
 * error; the process stops before it can store anything half-done).
 */
#ifndef ROLLCALL_UTIL_H
#define ROLLCALL_UTIL_H

#include <stddef.h>

#if defined(__GNUC__)
#define PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))
#else
#define PRINTF_LIKE(f, a)
#endif

/* "rollcall: <message>" on stderr. */
void error(const char *fmt, ...) PRINTF_LIKE(1, 2);

/* Never NULL: out of memory, they stop the process. jansson allocates
 * through them too (set in util.c before main), so no JSON value is ever
 * NULL for want of memory. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);

/* 1 if s[0..len) is valid UTF-8 with no control characters. */
int text_clean(const char *s, int len);

/* s[0..len) made fit to leave rollcall (JSON, logs, a terminal, a webhook):
 * a new string in which each byte that does not begin valid UTF-8, and
 * each control character not in keep (e.g. "\n\t", or NULL for none),
 * is replaced by U+FFFD. NUL bytes are replaced too. */
char *text_safe(const char *s, size_t len, const char *keep);

/* s[0..len) as a JSON string made with text_safe(s, len, keep), or JSON
 * null if s is NULL. Never NULL: jansson refuses text that is not UTF-8
 * (json_string returns NULL), so stored text reaches it only through here. */
struct json_t;
struct json_t *text_json(const char *s, size_t len, const char *keep);

/* Column col of a row, as text_json makes it: SQL NULL is JSON null. */
struct sqlite3_stmt;
struct json_t *column_json(struct sqlite3_stmt *row, int col, const char *keep);

/* Column col of a row made safe by text_safe(..., keep), as a new string; a
 * SQL NULL gives NULL. For text printed on a terminal. */
char *column_safe(struct sqlite3_stmt *row, int col, const char *keep);

/* Free text (a message, evidence, a receiver's error) keeps its line breaks
 * and tabs in JSON, where they are escaped and cannot move a terminal's
 * cursor; everything else, and all text on a terminal or in a log, keeps no
 * control character. */
#define TEXT_KEEP_JSON "\n\t"

/* Seconds on the monotonic clock, for timing what the log reports. */
double monotonic_seconds(void);

/* Two clocks in milliseconds, one for each kind of time:
 *  - monotonic_ms: never steps, for waits and deadlines within the process
 *    (a timeout, the next look at a file);
 *  - wall_ms: Unix time, for times stored or compared with stored ones
 *    (a delivery's next_attempt_at outlives the process: only the wall
 *    clock means the same after a restart). */
long long monotonic_ms(void);
long long wall_ms(void);

#endif
