/*
 * ingest.c — row validation and the store of schools, pupils and marks.
 *
 * Storing a batch of marks (ingest_store) is the write half of the hot path:
 *  1. sort by (register, slot, arrival) so each pupil-year register is read
 *     and written once, in key order;
 *  2. for each slot, compare with what is stored: a new slot is queued for
 *     insert, a different code is an amendment (the old version goes to
 *     mark_history), the same code is nothing at all — which is what makes
 *     importing a file twice change nothing;
 *  3. insert the queued marks sorted by marks.id, so a day's marks append.
 * Only amendments and repeats touch existing marks rows, by primary key.
 */
#include "ingest.h"

#include "codes.h"
#include "date.h"
#include "log.h"
#include "upn.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const struct row_kind_info ingest_kinds[KIND_COUNT] = {
	[KIND_SCHOOLS] = { "schools", 3, { "urn", "name", "la_code", "trust_id", "phase" } },
	[KIND_PUPILS] = { "pupils",
			  3,
			  { "upn", "urn", "year_group", "social_worker", "sen", "fsm" } },
	[KIND_MARKS] = { "marks",
			 5,
			 { "upn", "urn", "date", "session", "code", "minutes_late",
			   "recorded_at" } },
};

enum {
	ST_FIND_PUPIL,
	ST_SCHOOL_EXISTS,
	ST_UPSERT_SCHOOL,
	ST_UPSERT_PUPIL,
	ST_GET_MARK,
	ST_INSERT_MARK,
	ST_UPDATE_MARK,
	ST_HISTORY_STORED,
	ST_HISTORY_VALUES,
	ST_CHANGE,
	ST_REJECT,
	ST_REJECT_ONCE,
	ST_DIRECTORY_MOVED,
	ST_COUNT
};

_Static_assert(ST_COUNT <= sizeof((struct ingest *)0)->stmt / sizeof(sqlite3_stmt *),
	       "struct ingest has room for every statement");

static const char *const statements[ST_COUNT] = {
	[ST_FIND_PUPIL] = "SELECT id, urn FROM pupils WHERE upn = ?",
	[ST_SCHOOL_EXISTS] = "SELECT 1 FROM schools WHERE urn = ?",
	[ST_UPSERT_SCHOOL] =
		"INSERT INTO schools(urn, name, la_code, trust_id, phase) VALUES (?, ?, ?, ?, ?) "
		"ON CONFLICT(urn) DO UPDATE SET name = excluded.name, la_code = excluded.la_code, "
		"trust_id = excluded.trust_id, phase = excluded.phase "
		"WHERE (name, la_code, trust_id, phase) IS NOT "
		"(excluded.name, excluded.la_code, excluded.trust_id, excluded.phase)",
	[ST_UPSERT_PUPIL] =
		"INSERT INTO pupils(upn, urn, year_group, social_worker, sen, fsm) "
		"VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(upn) DO UPDATE SET urn = excluded.urn, "
		"year_group = excluded.year_group, social_worker = excluded.social_worker, "
		"sen = excluded.sen, fsm = excluded.fsm "
		"WHERE (urn, year_group, social_worker, sen, fsm) IS NOT (excluded.urn, "
		"excluded.year_group, excluded.social_worker, excluded.sen, excluded.fsm)",
	[ST_GET_MARK] = "SELECT code, minutes_late FROM marks WHERE id = ?",
	[ST_INSERT_MARK] = "INSERT INTO marks(id, pupil, urn, date, session, code, minutes_late, "
			   "recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
	[ST_UPDATE_MARK] = "UPDATE marks SET urn = ?, code = ?, minutes_late = ?, recorded_at = ? "
			   "WHERE id = ?",
	[ST_HISTORY_STORED] = "INSERT INTO mark_history(mark, code, minutes_late, recorded_at) "
			      "SELECT id, code, minutes_late, recorded_at FROM marks WHERE id = ?",
	[ST_HISTORY_VALUES] = "INSERT INTO mark_history(mark, code, minutes_late, recorded_at) "
			      "VALUES (?, ?, ?, ?)",
	[ST_CHANGE] = "INSERT INTO changes(pupil) VALUES (?)",
	[ST_REJECT] = "INSERT INTO rejected(source, line, row, reason) VALUES (?, ?, ?, ?)",
	[ST_REJECT_ONCE] = "INSERT INTO rejected(source, line, row, reason) SELECT ?1, ?2, ?3, ?4 "
			   "WHERE NOT EXISTS (SELECT 1 FROM rejected WHERE source = ?1 AND "
			   "line = ?2 AND row = ?3 AND reason = ?4)",
	[ST_DIRECTORY_MOVED] = "INSERT INTO meta(key, value) VALUES ('directory_version', 1) "
			       "ON CONFLICT(key) DO UPDATE SET value = value + 1",
};

/* ---- the pupil cache: upn -> (id, urn), so a batch asks SQLite once per
 * pupil rather than once per mark; pupil 0 caches "unknown". */

struct pupil_slot {
	char upn[13];
	uint8_t used;
	uint32_t pupil, urn;
};

static struct pupil_slot *cache_slot(struct ingest *in, const char *upn)
{
	size_t mask = in->cache_cap - 1, i = upn_hash(upn) & mask;
	while (in->cache[i].used && memcmp(in->cache[i].upn, upn, 13) != 0)
		i = (i + 1) & mask;
	return &in->cache[i];
}

static void cache_grow(struct ingest *in)
{
	struct pupil_slot *old = in->cache;
	size_t oldcap = in->cache_cap;
	in->cache_cap = oldcap ? oldcap * 2 : 4096;
	in->cache = xcalloc(in->cache_cap, sizeof *in->cache);
	for (size_t i = 0; i < oldcap; i++)
		if (old[i].used)
			*cache_slot(in, old[i].upn) = old[i];
	free(old);
}

/* Look up a pupil by UPN: 1 found, 0 unknown, -1 database error. */
static int find_pupil(struct ingest *in, const char *upn, uint32_t *pupil, uint32_t *urn)
{
	if (in->dir && in->dir->pupil) {
		const struct dir_pupil *p =
			directory_pupil(in->dir, *pupil = directory_find(in->dir, upn));
		*urn = p ? in->dir->school[p->school].urn : 0;
		return p != NULL;
	}
	if (in->cache_used * 2 >= in->cache_cap)
		cache_grow(in);
	struct pupil_slot *slot = cache_slot(in, upn);
	if (!slot->used) {
		sqlite3_stmt *st = in->stmt[ST_FIND_PUPIL];
		sqlite3_bind_text(st, 1, upn, 13, SQLITE_STATIC);
		int rc = sqlite3_step(st);
		memcpy(slot->upn, upn, 13);
		slot->pupil = rc == SQLITE_ROW ? (uint32_t)sqlite3_column_int64(st, 0) : 0;
		slot->urn = rc == SQLITE_ROW ? (uint32_t)sqlite3_column_int64(st, 1) : 0;
		sqlite3_reset(st);
		if (rc != SQLITE_ROW && rc != SQLITE_DONE)
			return db_fail(in->db, "looking up a pupil");
		slot->used = 1;
		in->cache_used++;
	}
	*pupil = slot->pupil;
	*urn = slot->urn;
	return slot->pupil != 0;
}

static void cache_forget(struct ingest *in)
{
	if (in->cache_used)
		memset(in->cache, 0, in->cache_cap * sizeof *in->cache);
	in->cache_used = 0;
}

/* Was pupil already noted in `changes` in this transaction? Notes it if
 * not. One bit a pupil id: a file stored in several batches, or a pupil
 * with marks in two academic years, is evaluated once, not once a store. */
static int noted(struct ingest *in, uint32_t pupil)
{
	size_t byte = pupil / 8;
	if (byte >= in->noted_cap) {
		size_t cap = in->noted_cap ? in->noted_cap : 4096;
		while (cap <= byte)
			cap *= 2;
		in->noted = xrealloc(in->noted, cap);
		memset(in->noted + in->noted_cap, 0, cap - in->noted_cap);
		in->noted_cap = cap;
	}
	uint8_t bit = (uint8_t)(1u << (pupil % 8));
	int was = (in->noted[byte] & bit) != 0;
	in->noted[byte] |= bit;
	return was;
}

void ingest_begin(struct ingest *in)
{
	if (in->noted)
		memset(in->noted, 0, in->noted_cap);
}

int ingest_refresh(struct ingest *in)
{
	cache_forget(in);
	if (in->dir) {
		double t0 = monotonic_seconds();
		int rc = directory_refresh(in->dir, in->db);
		if (rc < 0)
			return -1;
		if (rc > 0) {
			char n[24], secs[24];
			snprintf(n, sizeof n, "%u", in->dir->npupils - 1);
			snprintf(secs, sizeof secs, "%.3f", monotonic_seconds() - t0);
			log_event(LOG_INFO, "pupils directory loaded", "pupils", n, "seconds", secs,
				  NULL);
		}
	}
	return register_refresh(&in->reg);
}

/* A pupil or school row changed: the service's directory must reload. */
static int moved(struct ingest *in)
{
	if (sqlite3_changes(in->db->h) == 0)
		return 0;
	return db_step_done(in->db, in->stmt[ST_DIRECTORY_MOVED],
			    "noting a changed pupil or school");
}

int ingest_open(struct ingest *in, struct db *db)
{
	memset(in, 0, sizeof *in);
	in->db = db;
	for (int i = 0; i < ST_COUNT; i++)
		if (!(in->stmt[i] = db_prepare(db, statements[i])))
			goto fail;
	if (register_open(&in->reg, db) < 0)
		goto fail;
	return 0;
fail:
	ingest_close(in);
	return -1;
}

void ingest_close(struct ingest *in)
{
	for (int i = 0; i < ST_COUNT; i++)
		sqlite3_finalize(in->stmt[i]);
	if (in->reg.db)
		register_close(&in->reg);
	free(in->marks);
	free(in->text);
	free(in->cache);
	free(in->noted);
	memset(in, 0, sizeof *in);
}

/* ---- validation ---- */

/* A field as it may safely appear in a message: quoted, control bytes
 * escaped, cut at 40 bytes. */
static const char *shown(const char *s, int len, char buf[200])
{
	char *p = buf;
	*p++ = '"';
	for (int i = 0; i < len && i < 40; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c == 0x7f || c == '"' || c == '\\')
			p += sprintf(p, "\\x%02x", c);
		else
			*p++ = (char)c;
	}
	if (len > 40)
		p += sprintf(p, "...");
	*p++ = '"';
	*p = '\0';
	if (len > 40) /* how long, since only the start is shown */
		sprintf(p, " (%d bytes)", len);
	return buf;
}

#define INVALID(...)                                                                               \
	do {                                                                                       \
		snprintf(why, whylen, __VA_ARGS__);                                                \
		return 1;                                                                          \
	} while (0)

static int present(const struct row *row, int col)
{
	return row->s[col] && row->len[col] > 0;
}

/* An optional 0/1 flag; absent means 0. Returns -1 if invalid. */
static int flag(const struct row *row, int col)
{
	if (!present(row, col))
		return 0;
	if (row->len[col] == 1 && (row->s[col][0] == '0' || row->s[col][0] == '1'))
		return row->s[col][0] - '0';
	return -1;
}

/* Free text as stored: each line break (LF, CRLF or CR), with any other
 * breaks and spaces next to it, becomes one space, or nothing at either
 * end. A school name typed on two lines of a spreadsheet cell is still one
 * name; codes and identifiers are never folded (their rules refuse a break).
 * Writes at most cap bytes to out; returns the length, or -1 if longer. */
static int fold_breaks(const char *s, int len, char *out, int cap)
{
	int n = 0;
	for (int i = 0; i < len;) {
		if (s[i] != '\r' && s[i] != '\n') {
			if (n == cap)
				return -1;
			out[n++] = s[i++];
			continue;
		}
		while (n > 0 && out[n - 1] == ' ')
			n--;
		while (i < len && (s[i] == '\r' || s[i] == '\n' || s[i] == ' '))
			i++;
		if (n > 0 && i < len) {
			if (n == cap)
				return -1;
			out[n++] = ' ';
		}
	}
	return n;
}

#define SCHOOL_NAME_MAX	 200
#define SCHOOL_PHASE_MAX 64

static int check_school(struct ingest *in, const struct row *row, char *why, size_t whylen)
{
	char b[200], name[SCHOOL_NAME_MAX], phase[SCHOOL_PHASE_MAX];
	const char *urn = row->s[SCHOOL_URN], *la = row->s[SCHOOL_LA_CODE];
	int name_len = 0, phase_len = 0;
	if (!urn_valid(urn, row->len[SCHOOL_URN]))
		INVALID("urn %s: must be 6 digits", shown(urn, row->len[SCHOOL_URN], b));
	if (present(row, SCHOOL_NAME))
		name_len = fold_breaks(row->s[SCHOOL_NAME], row->len[SCHOOL_NAME], name,
				       SCHOOL_NAME_MAX);
	if (name_len == 0)
		INVALID("name: missing");
	if (name_len < 0 || !text_clean(name, name_len))
		INVALID("name: must be at most 200 bytes of UTF-8 text with no control characters");
	if (!la_code_valid(la, row->len[SCHOOL_LA_CODE]))
		INVALID("la_code %s: must be 3 digits", shown(la, row->len[SCHOOL_LA_CODE], b));
	if (present(row, SCHOOL_TRUST_ID) &&
	    !trust_id_valid(row->s[SCHOOL_TRUST_ID], row->len[SCHOOL_TRUST_ID]))
		INVALID("trust_id %s: must be 1-16 letters or digits",
			shown(row->s[SCHOOL_TRUST_ID], row->len[SCHOOL_TRUST_ID], b));
	if (present(row, SCHOOL_PHASE)) {
		phase_len = fold_breaks(row->s[SCHOOL_PHASE], row->len[SCHOOL_PHASE], phase,
					SCHOOL_PHASE_MAX);
		if (phase_len < 0 || !text_clean(phase, phase_len))
			INVALID("phase: must be at most 64 bytes of UTF-8 text with no control "
				"characters");
	}

	sqlite3_stmt *st = in->stmt[ST_UPSERT_SCHOOL];
	sqlite3_bind_int(st, 1, atoi(urn));
	sqlite3_bind_text(st, 2, name, name_len, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 3, la, 3, SQLITE_STATIC);
	if (present(row, SCHOOL_TRUST_ID))
		sqlite3_bind_text(st, 4, row->s[SCHOOL_TRUST_ID], row->len[SCHOOL_TRUST_ID],
				  SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 4);
	if (phase_len > 0) /* a phase of only line breaks is no phase */
		sqlite3_bind_text(st, 5, phase, phase_len, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(st, 5);
	int rc = db_step_done(in->db, st, "storing a school");
	return rc < 0 ? rc : moved(in);
}

static int school_exists(struct ingest *in, uint32_t urn)
{
	sqlite3_stmt *st = in->stmt[ST_SCHOOL_EXISTS];
	sqlite3_bind_int64(st, 1, urn);
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return db_fail(in->db, "looking up a school");
	return rc == SQLITE_ROW;
}

static int check_upn(const struct row *row, int col, char *why, size_t whylen)
{
	char b[200];
	const char *s = row->s[col];
	int len = row->len[col];
	if (!present(row, col))
		INVALID("upn: missing");
	if (len != 13)
		INVALID("upn %s: must be 13 characters", shown(s, len, b));
	char want = upn_check_letter(s + 1);
	if (!want)
		INVALID("upn %s: must be a check letter, 11 digits and a digit or letter",
			shown(s, len, b));
	if (s[0] != want)
		INVALID("upn %s: wrong check letter (the digits give %c)", shown(s, len, b), want);
	return 0;
}

static int check_pupil(struct ingest *in, const struct row *row, char *why, size_t whylen)
{
	char b[200];
	int rc;
	if ((rc = check_upn(row, PUPIL_UPN, why, whylen)) != 0)
		return rc;
	const char *urn = row->s[PUPIL_URN];
	if (!urn_valid(urn, row->len[PUPIL_URN]))
		INVALID("urn %s: must be 6 digits", shown(urn, row->len[PUPIL_URN], b));
	if (!year_group_valid(row->s[PUPIL_YEAR_GROUP], row->len[PUPIL_YEAR_GROUP]))
		INVALID("year_group %s: must be N1, N2, R, 1-14 or X",
			shown(row->s[PUPIL_YEAR_GROUP], row->len[PUPIL_YEAR_GROUP], b));
	int social_worker = flag(row, PUPIL_SOCIAL_WORKER), fsm = flag(row, PUPIL_FSM);
	if (social_worker < 0)
		INVALID("social_worker: must be 0 or 1");
	if (fsm < 0)
		INVALID("fsm: must be 0 or 1");
	const char *sen = present(row, PUPIL_SEN) ? row->s[PUPIL_SEN] : "N";
	if ((present(row, PUPIL_SEN) && row->len[PUPIL_SEN] != 1) || !strchr("NKE", sen[0]))
		INVALID("sen %s: must be N, K or E", shown(sen, row->len[PUPIL_SEN], b));
	if ((rc = school_exists(in, (uint32_t)atoi(urn))) <= 0) {
		if (rc < 0)
			return -1;
		INVALID("unknown school urn %.6s (import its schools file first)", urn);
	}

	sqlite3_stmt *st = in->stmt[ST_UPSERT_PUPIL];
	sqlite3_bind_text(st, 1, row->s[PUPIL_UPN], 13, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, atoi(urn));
	sqlite3_bind_text(st, 3, row->s[PUPIL_YEAR_GROUP], row->len[PUPIL_YEAR_GROUP],
			  SQLITE_STATIC);
	sqlite3_bind_int(st, 4, social_worker);
	sqlite3_bind_text(st, 5, sen, 1, SQLITE_STATIC);
	sqlite3_bind_int(st, 6, fsm);
	rc = db_step_done(in->db, st, "storing a pupil");
	cache_forget(in); /* the pupil may have moved school */
	return rc < 0 ? rc : moved(in);
}

/* Two digits at s, at most max; -1 if not digits. */
static int two_digits(const char *s, int max)
{
	if (s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9')
		return -1;
	int v = (s[0] - '0') * 10 + (s[1] - '0');
	return v <= max ? v : -1;
}

/* ISO 8601 date-time: YYYY-MM-DDTHH:MM[:SS[.fff]] then Z, +HH:MM or nothing,
 * with 1 to 9 digits of a second (nanoseconds): without that bound, digits
 * alone would make a valid value of any length. */
#define RECORDED_AT_MAX 35 /* 2025-09-01T08:45:00.123456789+01:00 */

static int timestamp_valid(const char *s, int len)
{
	if (len < 16 || len > RECORDED_AT_MAX || date_parse(s, 10) < 0 ||
	    (s[10] != 'T' && s[10] != ' ') || s[13] != ':' || two_digits(s + 11, 23) < 0 ||
	    two_digits(s + 14, 59) < 0)
		return 0;
	int i = 16;
	if (i < len && s[i] == ':') {
		if (len < 19 || two_digits(s + 17, 60) < 0)
			return 0;
		i = 19;
		if (i < len && s[i] == '.') {
			int from = ++i;
			while (i < len && s[i] >= '0' && s[i] <= '9')
				i++;
			if (i == from || i - from > 9)
				return 0;
		}
	}
	if (i == len || (s[i] == 'Z' && i + 1 == len))
		return 1;
	return (s[i] == '+' || s[i] == '-') && len - i == 6 && s[i + 3] == ':' &&
	       two_digits(s + i + 1, 14) >= 0 && two_digits(s + i + 4, 59) >= 0;
}

static int check_mark(struct ingest *in, const struct row *row, char *why, size_t whylen)
{
	char b[200], d[11];
	int rc;
	if ((rc = check_upn(row, MARK_UPN, why, whylen)) != 0)
		return rc;
	const char *urn = row->s[MARK_URN];
	if (!urn_valid(urn, row->len[MARK_URN]))
		INVALID("urn %s: must be 6 digits", shown(urn, row->len[MARK_URN], b));
	int day = date_parse(row->s[MARK_DATE], row->len[MARK_DATE]);
	if (day < 0)
		INVALID("date %s: must be a real calendar date YYYY-MM-DD in 2000-2099",
			shown(row->s[MARK_DATE], row->len[MARK_DATE], b));
	int session = session_parse(row->s[MARK_SESSION], row->len[MARK_SESSION]);
	if (session < 0)
		INVALID("session %s: must be AM or PM",
			shown(row->s[MARK_SESSION], row->len[MARK_SESSION], b));
	const char *code_text = row->s[MARK_CODE];
	int code = codes_find(code_text, row->len[MARK_CODE]);
	if (!code) {
		if (row->len[MARK_CODE] == 1 && code_text[0] == '-')
			INVALID("code \"-\": no mark yet is not an attendance code; send the mark "
				"once it is taken");
		INVALID("code %s: not a DfE attendance code",
			shown(code_text, row->len[MARK_CODE], b));
	}
	if (!codes_valid_on(code, day)) {
		const struct code *c = codes_get(code);
		if (c->valid_from > day)
			INVALID("code \"%s\" on %s: valid only from %s (2024 regulations)", c->text,
				date_format(day, d), date_format(c->valid_from, b));
		INVALID("code \"%s\" on %s: a pre-2024 code, withdrawn from %s", c->text,
			date_format(day, d), date_format(c->valid_to + 1, b));
	}
	int minutes_late = -1;
	if (present(row, MARK_MINUTES_LATE)) {
		const char *s = row->s[MARK_MINUTES_LATE];
		int len = row->len[MARK_MINUTES_LATE];
		minutes_late = 0;
		for (int i = 0; i < len; i++) {
			if (s[i] < '0' || s[i] > '9' || len > 3)
				INVALID("minutes_late %s: must be a whole number from 0 to 999",
					shown(s, len, b));
			minutes_late = minutes_late * 10 + (s[i] - '0');
		}
	}
	if (present(row, MARK_RECORDED_AT) && row->len[MARK_RECORDED_AT] > RECORDED_AT_MAX)
		INVALID("recorded_at %s: longer than an ISO 8601 date and time (at most %d bytes)",
			shown(row->s[MARK_RECORDED_AT], row->len[MARK_RECORDED_AT], b),
			RECORDED_AT_MAX);
	if (present(row, MARK_RECORDED_AT) &&
	    !timestamp_valid(row->s[MARK_RECORDED_AT], row->len[MARK_RECORDED_AT]))
		INVALID("recorded_at %s: must be an ISO 8601 date and time",
			shown(row->s[MARK_RECORDED_AT], row->len[MARK_RECORDED_AT], b));

	uint32_t pupil = 0, pupil_urn = 0, mark_urn = (uint32_t)atoi(urn);
	if ((rc = find_pupil(in, row->s[MARK_UPN], &pupil, &pupil_urn)) <= 0) {
		if (rc < 0)
			return -1;
		INVALID("unknown pupil upn \"%.13s\" (import the pupils file first)",
			row->s[MARK_UPN]);
	}
	if (mark_urn != pupil_urn) {
		if ((rc = school_exists(in, mark_urn)) < 0)
			return -1;
		if (!rc)
			INVALID("unknown school urn %.6s", urn);
		INVALID("pupil \"%.13s\" is on roll at urn %06u, not %.6s", row->s[MARK_UPN],
			pupil_urn, urn);
	}

	if (in->nmarks == in->cap) {
		in->cap = in->cap ? in->cap * 2 : 4096;
		in->marks = xrealloc(in->marks, in->cap * sizeof *in->marks);
	}
	struct mark *m = &in->marks[in->nmarks];
	m->group = (uint64_t)register_id(date_academic_year(day), pupil);
	m->pos = (uint32_t)(2 * day + session);
	m->pupil = pupil;
	m->urn = mark_urn;
	m->seq = (uint32_t)in->nmarks++;
	m->code = (uint8_t)code;
	m->minutes_late = (int16_t)minutes_late;
	m->recorded_at = 0;
	if (present(row, MARK_RECORDED_AT)) {
		size_t n = (size_t)row->len[MARK_RECORDED_AT];
		if (in->ntext + n + 1 > in->textcap) {
			in->textcap = (in->textcap + n + 1) * 2;
			in->text = xrealloc(in->text, in->textcap);
		}
		memcpy(in->text + in->ntext, row->s[MARK_RECORDED_AT], n);
		in->text[in->ntext + n] = '\0';
		m->recorded_at = (uint32_t)in->ntext + 1;
		in->ntext += n + 1;
	}
	return 0;
}

int ingest_row(struct ingest *in, enum row_kind kind, const struct row *row, char *why,
	       size_t whylen)
{
	switch (kind) {
	case KIND_SCHOOLS: return check_school(in, row, why, whylen);
	case KIND_PUPILS: return check_pupil(in, row, why, whylen);
	case KIND_MARKS: return check_mark(in, row, why, whylen);
	default: return -1;
	}
}

/* ---- storing a batch of marks ---- */

static int by_register_slot(const void *a, const void *b)
{
	const struct mark *x = a, *y = b;
	if (x->group != y->group)
		return x->group < y->group ? -1 : 1;
	if (x->pos != y->pos)
		return x->pos < y->pos ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int64_t mark_id(const struct mark *m)
{
	return (int64_t)m->pos << 32 | m->pupil;
}

static int by_mark_id(const void *a, const void *b)
{
	int64_t x = mark_id(*(struct mark *const *)a), y = mark_id(*(struct mark *const *)b);
	return x < y ? -1 : x > y;
}

static void bind_mark_values(struct ingest *in, sqlite3_stmt *st, int at, const struct mark *m)
{
	sqlite3_bind_text(st, at, codes_get(m->code)->text, -1, SQLITE_STATIC);
	if (m->minutes_late >= 0)
		sqlite3_bind_int(st, at + 1, m->minutes_late);
	else
		sqlite3_bind_null(st, at + 1);
	if (m->recorded_at)
		sqlite3_bind_text(st, at + 2, in->text + m->recorded_at - 1, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, at + 2);
}

/* Keep version m of mark id in mark_history (it is being replaced). */
static int keep_version(struct ingest *in, int64_t id, const struct mark *m)
{
	sqlite3_stmt *st = in->stmt[ST_HISTORY_VALUES];
	sqlite3_bind_int64(st, 1, id);
	bind_mark_values(in, st, 2, m);
	return db_step_done(in->db, st, "keeping a mark's history");
}

/* The stored version of mark id: its code index and minutes_late. */
static int stored_mark(struct ingest *in, int64_t id, int *code, int *minutes_late)
{
	sqlite3_stmt *st = in->stmt[ST_GET_MARK];
	sqlite3_bind_int64(st, 1, id);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*code = codes_find((const char *)sqlite3_column_text(st, 0),
				   sqlite3_column_bytes(st, 0));
		*minutes_late =
			sqlite3_column_type(st, 1) == SQLITE_NULL ? -1 : sqlite3_column_int(st, 1);
	}
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return 0;
	if (rc == SQLITE_DONE)
		error("%s: register and marks disagree for mark %lld", in->db->path, (long long)id);
	return db_fail(in->db, "reading a mark");
}

/* Apply one slot's run of marks [m, end) to the register buf. A new final
 * version is queued in *queue; amendments are written now. */
static int apply_slot(struct ingest *in, struct mark *m, struct mark *end, uint8_t *buf, int base,
		      struct mark ***queue, int *changed)
{
	int64_t id = mark_id(m);
	int idx = (int)m->pos - base;
	int was_stored = buf[idx] != 0, code = 0, minutes_late = -1, rc;
	const struct mark *final = NULL; /* the batch's latest version, if it changes anything */

	/* each failure returns the db_result of what failed: a full disk must
	 * reach the batch as one, to be waited out, not stop the service */
	if (was_stored && (rc = stored_mark(in, id, &code, &minutes_late)) < 0)
		return rc;
	/* What counts is the batch's last word on the slot: if that is what is
	 * stored, the whole run changes nothing (so a file that names a slot
	 * twice can be imported again and again). */
	if (was_stored && end[-1].code == code && end[-1].minutes_late == minutes_late) {
		in->unchanged += end - m;
		return 0;
	}
	for (; m < end; m++) {
		if ((was_stored || final) && m->code == code && m->minutes_late == minutes_late) {
			in->unchanged++; /* the same mark again: nothing to do */
			continue;
		}
		if (final) {
			if ((rc = keep_version(in, id, final)) < 0)
				return rc;
		} else if (was_stored) {
			sqlite3_stmt *st = in->stmt[ST_HISTORY_STORED];
			sqlite3_bind_int64(st, 1, id);
			if ((rc = db_step_done(in->db, st, "keeping a mark's history")) < 0)
				return rc;
		}
		in->amended += final || was_stored;
		final = m;
		code = m->code;
		minutes_late = m->minutes_late;
	}
	if (!final)
		return 0;
	*changed = 1;
	buf[idx] = final->code;
	if (!was_stored) {
		in->added++;
		*(*queue)++ = (struct mark *) final;
		return 0;
	}
	sqlite3_stmt *st = in->stmt[ST_UPDATE_MARK];
	sqlite3_bind_int64(st, 1, final->urn);
	bind_mark_values(in, st, 2, final);
	sqlite3_bind_int64(st, 5, id);
	return db_step_done(in->db, st, "amending a mark");
}

static int insert_marks(struct ingest *in, struct mark **queue, size_t n)
{
	sqlite3_stmt *st = in->stmt[ST_INSERT_MARK];
	char date[11];
	if (n)
		qsort(queue, n, sizeof *queue, by_mark_id);
	for (size_t i = 0; i < n; i++) {
		const struct mark *m = queue[i];
		sqlite3_bind_int64(st, 1, mark_id(m));
		sqlite3_bind_int64(st, 2, m->pupil);
		sqlite3_bind_int64(st, 3, m->urn);
		sqlite3_bind_text(st, 4, date_format((int)(m->pos / 2), date), 10,
				  SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 5, m->pos % 2 ? "PM" : "AM", 2, SQLITE_STATIC);
		bind_mark_values(in, st, 6, m);
		int rc = db_step_done(in->db, st, "storing a mark");
		if (rc < 0)
			return rc; /* the db_result: a full disk must reach the batch as one */
	}
	return 0;
}

int ingest_store(struct ingest *in)
{
	uint8_t buf[REGISTER_SLOTS];
	struct mark **queue = xmalloc((in->nmarks + 1) * sizeof *queue), **q = queue;
	int rc = 0;

	if (in->nmarks)
		qsort(in->marks, in->nmarks, sizeof *in->marks, by_register_slot);
	for (size_t i = 0; i < in->nmarks && rc == 0;) {
		struct mark *group = &in->marks[i];
		int year = (int)(group->group >> 32), len, changed = 0;
		int base = 2 * date_from_ymd(year, 9, 1);
		if ((rc = register_get(&in->reg, year, group->pupil, buf, &len)) < 0)
			break;
		while (i < in->nmarks && in->marks[i].group == group->group && rc == 0) {
			size_t j = i + 1;
			while (j < in->nmarks && in->marks[j].group == group->group &&
			       in->marks[j].pos == in->marks[i].pos)
				j++;
			rc = apply_slot(in, &in->marks[i], &in->marks[j], buf, base, &q, &changed);
			i = j;
		}
		if (rc == 0 && changed) {
			rc = register_put(&in->reg, year, group->pupil, buf);
			if (rc == 0 && !noted(in, group->pupil)) {
				in->pupils_changed++;
				sqlite3_stmt *st = in->stmt[ST_CHANGE];
				sqlite3_bind_int64(st, 1, group->pupil);
				rc = db_step_done(in->db, st, "noting a change");
			}
		}
	}
	if (rc == 0)
		rc = insert_marks(in, queue, (size_t)(q - queue));
	free(queue);
	ingest_discard(in);
	return rc;
}

void ingest_discard(struct ingest *in)
{
	in->nmarks = 0;
	in->ntext = 0;
}

int ingest_reject(struct ingest *in, const char *source, long line, const char *row,
		  const char *reason)
{
	sqlite3_stmt *st = in->stmt[ST_REJECT];
	sqlite3_bind_text(st, 1, source, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, line);
	sqlite3_bind_text(st, 3, row, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, reason, -1, SQLITE_STATIC);
	return db_step_done(in->db, st, "keeping a rejected row");
}

int ingest_reject_once(struct ingest *in, const char *source, long line, const char *row,
		       const char *reason)
{
	sqlite3_stmt *st = in->stmt[ST_REJECT_ONCE];
	sqlite3_bind_text(st, 1, source, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, line);
	sqlite3_bind_text(st, 3, row, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, reason, -1, SQLITE_STATIC);
	int rc = db_step_done(in->db, st, "keeping a rejected row");
	return rc < 0 ? rc : sqlite3_changes(in->db->h) > 0;
}

void ingest_row_csv(const struct row *row, int ncolumns, char *buf, size_t size)
{
	size_t n = 0;
	for (int c = 0; c < ncolumns && n + 1 < size; c++) {
		const char *s = row->s[c] ? row->s[c] : "";
		int len = row->s[c] ? row->len[c] : 0;
		int quote = 0;
		for (int i = 0; i < len && !quote; i++)
			quote = s[i] == ',' || s[i] == '"' || s[i] == '\n' || s[i] == '\r';
		if (c > 0)
			buf[n++] = ',';
		if (quote && n + 1 < size)
			buf[n++] = '"';
		for (int i = 0; i < len && n + 2 < size; i++) {
			if (s[i] == '"')
				buf[n++] = '"';
			buf[n++] = s[i] ? s[i] : ' ';
		}
		if (quote && n + 1 < size)
			buf[n++] = '"';
	}
	buf[n < size ? n : size - 1] = '\0';
}

long ingest_incoming(struct ingest *in, int limit, long *rejected)
{
	static const char *const columns = "upn, urn, date, session, code, minutes_late, "
					   "recorded_at";
	char sql[256], why[256], text[1024], blobs[ROW_MAX_COLUMNS][32];
	long taken = 0, last = 0, failed = DB_FAILED; /* the db_result when it fails */
	*rejected = 0;

	snprintf(sql, sizeof sql, "SELECT id, %s FROM incoming ORDER BY id LIMIT ?", columns);
	sqlite3_stmt *st = db_prepare(in->db, sql);
	sqlite3_stmt *del = db_prepare(in->db, "DELETE FROM incoming WHERE id <= ?");
	if (!st || !del)
		goto fail;
	sqlite3_bind_int(st, 1, limit);
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct row row = { 0 };
		int bad = 0;
		last = sqlite3_column_int64(st, 0);
		for (int c = 0; c < ROW_MAX_COLUMNS; c++) {
			/* A blob is not a value any column holds, and its bytes read as
			 * text could pass for one (a blob upn): refused by its type,
			 * kept in rejected by its size only. Text is used where SQLite
			 * holds it: each check reads only as far as its rule allows,
			 * so nothing is copied before its length is judged. */
			if (sqlite3_column_type(st, c + 1) == SQLITE_BLOB) {
				int n = sqlite3_column_bytes(st, c + 1);
				if (!bad)
					snprintf(why, sizeof why,
						 "%s: a blob of %d bytes, not text or a number",
						 ingest_kinds[KIND_MARKS].columns[c], n);
				bad = 1;
				row.len[c] =
					snprintf(blobs[c], sizeof blobs[c], "(blob, %d bytes)", n);
				row.s[c] = blobs[c];
				continue;
			}
			row.s[c] = (const char *)sqlite3_column_text(st, c + 1);
			row.len[c] = sqlite3_column_bytes(st, c + 1);
		}
		taken++;
		if (!bad)
			bad = check_mark(in, &row, why, sizeof why);
		if (bad < 0)
			goto fail;
		if (bad) {
			ingest_row_csv(&row, ROW_MAX_COLUMNS, text, sizeof text);
			int r = ingest_reject(in, "incoming", last, text, why);
			if (r < 0) {
				failed = r;
				goto fail;
			}
			++*rejected;
		}
	}
	if (rc != SQLITE_DONE) {
		failed = db_fail(in->db, "reading incoming");
		goto fail;
	}
	sqlite3_bind_int64(del, 1, last);
	int r = taken ? db_step_done(in->db, del, "taking rows from incoming") : DB_DONE;
	if (r < 0) {
		failed = r;
		goto fail;
	}
	sqlite3_finalize(st);
	sqlite3_finalize(del);
	return taken;
fail:
	sqlite3_finalize(st);
	sqlite3_finalize(del);
	return failed;
}
