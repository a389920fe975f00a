/*
 * fuzz_text.c — libFuzzer target: arbitrary bytes through every path by
 * which text leaves rollcall. The input is a flags byte, then fields, each a
 * length byte (255: SQL NULL) and that many bytes:
 *
 * - text_safe over the whole input, with each keep set: the result must be
 *   UTF-8 (as jansson judges it) with no control character outside keep,
 *   unchanged by a second pass, and the input itself when it was clean;
 * - log_format with fields 0 and 1 as the message and a value: the line must
 *   be UTF-8 with no control character but its final newline, and parsing
 *   it back as logfmt must give exactly the message and the value as
 *   text_safe shows them (nothing a value holds can end it early or add a
 *   key);
 * - actions_payload over a row of the fields as ACTIONS_COLUMNS: never
 *   NULL, and its JSON must be UTF-8 with no raw control character and load
 *   back equal.
 */
#include "actions.h"
#include "log.h"
#include "util.h"

#include <jansson.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FIELDS ACTION_COLUMNS_COUNT

static const char controls[] = "\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f"
			       "\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f"
			       "\x7f";

struct field {
	const char *s; /* NULL: SQL NULL */
	size_t len;
};

static int is_control(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

/* jansson's own UTF-8 check, independent of util.c's decoder. */
static int utf8(const char *s, size_t len)
{
	json_t *j = json_stringn(s, len);
	json_decref(j);
	return j != NULL;
}

static void check_text_safe(const char *s, size_t len, const char *keep)
{
	char *out = text_safe(s, len, keep);
	size_t n = strlen(out);
	if (n > 3 * len || !utf8(out, n))
		abort();
	for (size_t i = 0; i < n; i++)
		if (is_control((unsigned char)out[i]) && !(keep && strchr(keep, out[i])))
			abort();
	char *again = text_safe(out, n, keep);
	if (strcmp(again, out))
		abort(); /* what is safe stays as it is */
	if (text_clean(s, (int)len) && (n != len || memcmp(out, s, len)))
		abort(); /* clean text is never touched */
	free(again);
	free(out);
}

/* One logfmt value at *p, unquoted and unescaped into out (as long as the
 * line); *p moves past it. 0 if it is malformed. */
static int parse_value(const char **p, char *out)
{
	const char *s = *p;
	if (*s != '"') {
		size_t n = strcspn(s, " \n");
		if (n == 0)
			return 0;
		memcpy(out, s, n);
		out[n] = '\0';
		*p = s + n;
		return 1;
	}
	for (s++; *s != '"'; s++) {
		if (!*s || *s == '\n')
			return 0;
		if (*s != '\\') {
			*out++ = *s;
			continue;
		}
		switch (*++s) {
		case '"': *out++ = '"'; break;
		case '\\': *out++ = '\\'; break;
		case 'n': *out++ = '\n'; break;
		case 'r': *out++ = '\r'; break;
		case 't': *out++ = '\t'; break;
		case 'u': {
			unsigned c;
			if (sscanf(s + 1, "%4x", &c) != 1 || c > 0x7f ||
			    !is_control((unsigned char)c))
				return 0;
			*out++ = (char)c;
			s += 4;
			break;
		}
		default: return 0;
		}
	}
	*out = '\0';
	*p = s + 1;
	return 1;
}

static char *cstring(struct field f)
{
	char *s = malloc(f.len + 1);
	if (f.s)
		memcpy(s, f.s, f.len);
	s[f.s ? f.len : 0] = '\0';
	return s;
}

static void check_log(struct field a, struct field b, int level)
{
	char *msg = cstring(a), *value = cstring(b);
	char *line = log_format("2025-09-01T09:30:00Z", (enum log_level)level, msg, "key", value,
				"skipped", (const char *)NULL, (const char *)NULL);
	size_t len = strlen(line);
	if (!len || line[len - 1] != '\n' || !utf8(line, len - 1))
		abort();
	for (size_t i = 0; i + 1 < len; i++)
		if (is_control((unsigned char)line[i]))
			abort(); /* one line, nothing raw in it */
	static const char *const levels[] = { "debug", "info", "warn", "error" };
	char head[64], *got = malloc(len + 1);
	snprintf(head, sizeof head, "ts=2025-09-01T09:30:00Z level=%s msg=", levels[level]);
	const char *p = line + strlen(head);
	if (strncmp(line, head, strlen(head)) || !parse_value(&p, got))
		abort();
	char *want = text_safe(msg, strlen(msg), controls);
	if (strcmp(got, want) || strncmp(p, " key=", 5))
		abort();
	free(want);
	p += 5;
	want = text_safe(value, strlen(value), controls);
	if (!parse_value(&p, got) || strcmp(got, want) || strcmp(p, "\n"))
		abort();
	free(want);
	free(got);
	free(line);
	free(msg);
	free(value);
}

static sqlite3_stmt *row_statement(void)
{
	static sqlite3 *db;
	static sqlite3_stmt *st;
	if (!st) {
		char sql[256] = "SELECT ?1";
		for (int i = 2; i <= FIELDS; i++)
			snprintf(sql + strlen(sql), sizeof sql - strlen(sql), ", ?%d", i);
		if (sqlite3_open(":memory:", &db) != SQLITE_OK ||
		    sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
			abort();
	}
	return st;
}

static void check_payload(const struct field *f, int flags)
{
	static const char *const actions[] = { "alert", "referral", "legal_step" };
	sqlite3_stmt *st = row_statement();
	for (int i = 0; i < FIELDS; i++) {
		if (i == ACTION_COL_ID || i == ACTION_COL_URN)
			sqlite3_bind_int64(st, i + 1, f[i].s ? (int64_t)f[i].len * 7919 : -1);
		else if (i == ACTION_COL_ACTION && flags % 4 < 3)
			sqlite3_bind_text(st, i + 1, actions[flags % 4], -1, SQLITE_STATIC);
		else if (!f[i].s)
			sqlite3_bind_null(st, i + 1);
		else if (flags & 0x10 && i % 2) /* a blob where text belongs reads as text */
			sqlite3_bind_blob(st, i + 1, f[i].s, (int)f[i].len, SQLITE_STATIC);
		else
			sqlite3_bind_text(st, i + 1, f[i].s, (int)f[i].len, SQLITE_STATIC);
	}
	if (sqlite3_step(st) != SQLITE_ROW)
		abort();
	struct action_row a;
	actions_row(st, 0, &a);
	json_t *o = actions_payload(&a);
	if (!o)
		abort();
	char *text = json_dumps(o, JSON_COMPACT);
	if (!text)
		abort();
	size_t len = strlen(text);
	if (!utf8(text, len))
		abort();
	for (size_t i = 0; i < len; i++)
		if (is_control((unsigned char)text[i]))
			abort();
	json_t *back = json_loads(text, 0, NULL);
	if (!back || !json_equal(o, back))
		abort(); /* reals print with 17 digits, so they come back equal */
	json_decref(back);
	free(text);
	json_decref(o);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	int flags = data[0];
	const char *s = (const char *)data + 1, *end = (const char *)data + size;
	static const char *const keeps[] = { NULL, "\n\t", controls };
	check_text_safe(s, (size_t)(end - s), keeps[flags % 3]);

	struct field f[FIELDS] = { { 0 } };
	for (int i = 0; i < FIELDS && s < end; i++) {
		size_t n = (unsigned char)*s++;
		if (n == 255)
			continue; /* NULL */
		if (n > (size_t)(end - s))
			n = (size_t)(end - s);
		f[i].s = s;
		f[i].len = n;
		s += n;
	}
	check_log(f[0], f[1], (flags >> 2) % 4);
	check_payload(f, flags);
	return 0;
}
