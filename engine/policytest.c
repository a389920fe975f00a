/*
 * policytest.c — `rollcall test` (policytest.h): reading test files, running
 * their cases through the engine, matching what was recorded, and the
 * policies' coverage.
 *
 * Reading. A test file runs, like rollcall.conf (config.c), as a data file
 * (datafile.c): in a Lua state with no libraries and no globals, so it can
 * only assign data, the line of every key noted so that every error names
 * FILE:LINE and the key. Then the values are checked, key by key, before
 * any case runs: a bad test file runs nothing.
 *
 * Running. Each case gets a fresh database file in the run's temporary
 * directory. Schools and pupils go through ingest_row, as `import` stores
 * them; params are stored as `rollcall params` stores them; then the
 * marks of each session (every pupil's AM of a day, then their PM) are
 * inserted into `incoming` in one transaction, as a school's MIS writes a
 * register, and engine_batch takes them, evaluates and records, as the
 * live service does. Nothing is delivered: no sender runs, and the file is
 * removed after the case.
 *
 * Coverage. The lines of a policy that call an action are found in its
 * text (lualex.c); the lines reached are marked by policy.c, whose action
 * functions note the calling line of the policy file into
 * struct policy.reached while a test runs (off, NULL, otherwise).
 */
#define _XOPEN_SOURCE 700 /* realpath */

#include "policytest.h"

#include "actions.h"
#include "codes.h"
#include "datafile.h"
#include "date.h"
#include "db.h"
#include "engine.h"
#include "file.h"
#include "ingest.h"
#include "lualex.h"
#include "policy.h"
#include "upn.h"
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <lauxlib.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TEST_FILE_MAX (1 << 20)
#define LIST_MAX      1000    /* cases in a file, pupils or expectations in a case */
#define REPEAT_MAX    1000    /* NN*N */
#define MARKS_MAX     2000000 /* in one test file: bounds its memory and time */
#define GOT_SHOWN     40      /* actions listed after "got:" */
#define DEFAULT_YEAR  "9"

/* What a test can expect, as the actions table names them. */
enum { A_ALERT, A_REFERRAL, A_LEGAL_STEP, A_CASE_CLOSED, A_COUNT };
static const char *const action_words[A_COUNT] = { "alert", "referral", "legal_step",
						   "case_closed" };

static const char *const severities[] = { "low", "medium", "high", "urgent", NULL };

struct pt_school {
	int line;
	char urn[7], la_code[4], trust_id[17];
	char *name, *phase;
};

struct pt_mark {
	int day, session;
	char code[3];
};

struct pt_pupil {
	int line;
	char upn[14], urn[7], year_group[4], sen[2];
	int fsm, social_worker;
	struct pt_mark *marks;
	int nmarks;
};

struct pt_param {
	char name[48];
	double value;
	int line;
};

struct pt_expect {
	int line, never;
	char upn[14];	  /* "": any pupil of the case */
	int action;	  /* A_* */
	char kind[72];	  /* alert kind or legal step; "": any */
	char severity[8]; /* "": any */
	char *reason;	  /* case_closed: NULL, any */
	int from, to;	  /* the days it may fall on, inclusive */
	int count;	  /* exactly this many; -1: at least one */
	int met;	  /* matched this many */
};

struct pt_case {
	int line;
	char *name;
	struct pt_school *schools;
	int nschools;
	struct pt_pupil *pupils;
	int npupils;
	struct pt_param *params;
	int nparams;
	int *points; /* evaluate after these sessions (2 * day + session), ascending */
	int npoints; /* 0: after every session */
	struct pt_expect *expect;
	int nexpect;
	int nothing_else;
	char *pending; /* known to fail today, and why; NULL: must pass */
};

/* A line of a policy that calls an action. */
struct site {
	int line;
	int action; /* A_*: case_closed for close_case, referral for refer_mentor */
	char kind[72];
	char what[96]; /* alert "low_attendance" */
};

/* A policy the tests ran: its action lines, and those reached. */
struct covered {
	char *path; /* as the tests named it */
	char *real; /* realpath, to know it again */
	struct site *sites;
	int nsites;
	unsigned char *reached; /* by line, nlines + 2 of them */
	int nlines;
	int ran; /* a case of it ran: its coverage means something */
};

struct ptest {
	const struct config *cfg;
	FILE *out;
	int verbosity; /* -1: no ok lines; 1: every action after "got:" */
	char *dir;     /* the temporary databases' */
	struct covered *cov;
	int ncov;
	int files, bad_files, cases, passed, failed, pending, broken;
};

static const char *const top_keys[] = { "policy", "schools", "start", "params", "cases", NULL };

/* A test file holds many cases and their marks: more to run than a
 * configuration. Its lists are written one "{" to a line, which Lua puts
 * on the line above: so a table is on its first key's line. */
static const struct datafile_spec test_file = {
	.what = "the test file",
	.names = "policy, schools, start, params, cases",
	.instructions = 10000000,
	.memory = 32 << 20,
	.track_budget = 1L << 22,
	.first_key_line = 1,
};

/* ---- reading values ---- */

struct rd {
	lua_State *L;
	const char *path;
	long marks;    /* in the file so far, at most MARKS_MAX */
	char ctx[320]; /* what the message is about: case "x": pupils[2] */
	const struct policy *pol;
	const struct covered *cov;
};

static int bad(struct rd *r, int line, const char *fmt, ...) PRINTF_LIKE(3, 4);

static int bad(struct rd *r, int line, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = snprintf(msg, sizeof msg, "%s%s", r->ctx, r->ctx[0] ? ": " : "");
	vsnprintf(msg + n, sizeof msg - (size_t)n, fmt, ap);
	va_end(ap);
	/* the file's own text is quoted: nothing in it reaches the terminal raw */
	char *safe = text_safe(msg, strlen(msg), NULL);
	fprintf(stderr, "%s:%d: %s\n", r->path, line, safe);
	free(safe);
	return -1;
}

static void warn(struct rd *r, int line, const char *fmt, ...) PRINTF_LIKE(3, 4);

static void warn(struct rd *r, int line, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = snprintf(msg, sizeof msg, "%s%s", r->ctx, r->ctx[0] ? ": " : "");
	vsnprintf(msg + n, sizeof msg - (size_t)n, fmt, ap);
	va_end(ap);
	char *safe = text_safe(msg, strlen(msg), NULL);
	fprintf(stderr, "%s:%d: warning: %s\n", r->path, line, safe);
	free(safe);
}

/* Push t[name]; *line is its line (dflt if not known). Returns its type. */
static int field(struct rd *r, int t, const char *name, int dflt, int *line)
{
	lua_State *L = r->L;
	t = lua_absindex(L, t);
	lua_pushstring(L, name);
	*line = datafile_key_line(L, t, -1, dflt);
	return lua_rawget(L, t);
}

/* Every key of the table at t is one of keys; else an error at its line. */
static int known_keys(struct rd *r, int t, int tline, const char *const *keys, const char *what)
{
	lua_State *L = r->L;
	t = lua_absindex(L, t);
	lua_pushnil(L);
	while (lua_next(L, t)) {
		int line = datafile_key_line(L, t, -2, tline), k = 0;
		const char *name = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
		while (name && keys[k] && strcmp(keys[k], name))
			k++;
		if (!name || !keys[k]) {
			char list[400] = "";
			for (int i = 0; keys[i]; i++)
				snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s",
					 i ? ", " : "", keys[i]);
			if (!name)
				bad(r, line, "%s: a key that is not a name (keys: %s)", what, list);
			else
				bad(r, line, "unknown key '%.60s' in %s (keys: %s)", name, what,
				    list);
			lua_pop(L, 2);
			return -1;
		}
		lua_pop(L, 1);
	}
	return 0;
}

/* The length of the list at t, whose keys must be 1..n; -1 reported. */
static int list_len(struct rd *r, int t, int tline, const char *what, const char *item)
{
	lua_State *L = r->L;
	t = lua_absindex(L, t);
	lua_Unsigned n = lua_rawlen(L, t), count = 0;
	lua_pushnil(L);
	while (lua_next(L, t)) {
		int line = datafile_key_line(L, t, -2, tline);
		if (!lua_isinteger(L, -2) || lua_tointeger(L, -2) < 1 ||
		    (lua_Unsigned)lua_tointeger(L, -2) > n) {
			if (lua_type(L, -2) == LUA_TSTRING)
				bad(r, line,
				    "%s is a list of %s, each in its own { }: found the key "
				    "'%.60s' (write %s = { { %.60s = ... }, ... })",
				    what, item, lua_tostring(L, -2), what, lua_tostring(L, -2));
			else
				bad(r, line, "%s is a list of %s: { {...}, {...} }", what, item);
			lua_pop(L, 2);
			return -1;
		}
		count++;
		lua_pop(L, 1);
	}
	if (count != n)
		return bad(r, tline, "%s is a list of %s with no gaps", what, item);
	if (n > LIST_MAX)
		return bad(r, tline, "%s: more than %d %s", what, LIST_MAX, item);
	return (int)n;
}

/* The string at the top, copied into out (size bytes): -1 if it is not a
 * string of 1..size-1 bytes of clean text. */
static int to_buf(struct rd *r, int line, const char *key, char *out, size_t size)
{
	size_t len;
	const char *s = lua_type(r->L, -1) == LUA_TSTRING ? lua_tolstring(r->L, -1, &len) : NULL;
	if (!s)
		return bad(r, line, "%s must be a string (in quotes), not %s", key,
			   luaL_typename(r->L, -1));
	if (len == 0 || len >= size || !text_clean(s, (int)len))
		return bad(r, line, "%s \"%.60s\": must be 1 to %zu characters of text", key, s,
			   size - 1);
	memcpy(out, s, len + 1);
	return 0;
}

static int parse_day(struct rd *r, int line, const char *key, const char *s, size_t len)
{
	int day = date_parse(s, (int)len);
	if (day < 0)
		bad(r, line, "%s \"%.40s\": not a date (YYYY-MM-DD, a real day of 2000-2099)", key,
		    s);
	return day;
}

static const char *const weekdays[] = { "Monday", "Tuesday",  "Wednesday", "Thursday",
					"Friday", "Saturday", "Sunday" };

/* ---- marks ----
 *
 * One token a school day, AM then PM: each half a code ("/", "N", "Y3" —
 * a letter followed by a digit is one two-character code, since no code
 * is a digit alone) or "-" for no mark. Days advance over Monday to
 * Friday from the start. "TOKEN*N" is N such days; "@YYYY-MM-DD" moves to
 * a later date (half term); "|" says a new week starts here, and is an
 * error if the next day is not a Monday (a miscounted week). */

/* The line of offset at in a string value of len bytes that ends on line
 * end: the newlines after it are counted back. */
static int line_at(const char *s, size_t len, size_t at, int end)
{
	for (size_t i = at; i < len; i++)
		end -= s[i] == '\n';
	return end > 0 ? end : 1;
}

static int next_weekday(int day)
{
	do
		day++;
	while (date_weekday(day) >= 5);
	return day;
}

static int parse_marks(struct rd *r, const char *s, size_t len, int start, int end,
		       struct pt_pupil *pp)
{
	int next = start, cap = 0;
	char d[11], d2[11];
	for (size_t i = 0; i < len;) {
		if (isspace((unsigned char)s[i])) {
			i++;
			continue;
		}
		size_t from = i;
		while (i < len && !isspace((unsigned char)s[i]))
			i++;
		const char *tok = s + from;
		int n = (int)(i - from), line = line_at(s, len, from, end);
		if (n == 1 && tok[0] == '|') {
			int wd = date_weekday(next);
			if (wd != 0)
				return bad(r, line,
					   "marks: '|' starts a new week, but the next day is %s "
					   "%s, %d school day%s into its week (a week has 5, "
					   "Monday to Friday; -- is a day with no marks)",
					   weekdays[wd], date_format(next, d), wd,
					   wd == 1 ? "" : "s");
			continue;
		}
		if (tok[0] == '@') {
			int day = parse_day(r, line, "marks: @", tok + 1, (size_t)n - 1);
			if (day < 0)
				return -1;
			if (date_weekday(day) >= 5)
				return bad(r, line,
					   "marks: @%s is a %s: school days are Monday to Friday",
					   date_format(day, d), weekdays[date_weekday(day)]);
			if (day < next)
				return bad(r, line,
					   "marks: @%s goes back: the marks have reached %s (dates "
					   "only go forward)",
					   date_format(day, d), date_format(next, d2));
			next = day;
			continue;
		}
		int repeat = 1, base = n;
		const char *star = memchr(tok, '*', (size_t)n);
		if (star) {
			base = (int)(star - tok);
			char *stop;
			long k = strtol(star + 1, &stop, 10);
			if (stop != tok + n || star + 1 == stop || k < 1 || k > REPEAT_MAX ||
			    !isdigit((unsigned char)star[1]))
				return bad(r, line,
					   "marks: '%.*s': after '*' comes how many days, 1 to %d",
					   n, tok, REPEAT_MAX);
			repeat = (int)k;
		}
		/* the day: two halves, each a code or '-' */
		char half[2][3];
		int nhalf = 0;
		for (int k = 0; k < base;) {
			int l = isalpha((unsigned char)tok[k]) && k + 1 < base &&
						isdigit((unsigned char)tok[k + 1])
					? 2
					: 1;
			if (tok[k] != '-' && !codes_find(tok + k, l))
				return bad(r, line,
					   "marks: '%.*s': '%.*s' is not an attendance code (a day "
					   "is two marks, AM then PM, such as /\\ NN GG Y3Y3, or - "
					   "for no mark: --)",
					   n, tok, l, tok + k);
			if (nhalf == 2) {
				nhalf = 3;
				break;
			}
			memcpy(half[nhalf], tok + k, (size_t)l);
			half[nhalf++][l] = '\0';
			k += l;
		}
		if (nhalf != 2)
			return bad(r, line,
				   "marks: '%.*s': a day is two marks, AM then PM (such as /\\, "
				   "NN, I/, Y3Y3, or -- for none)",
				   base ? base : n, tok);
		for (int k = 0; k < repeat; k++) {
			if (next > DATE_MAX)
				return bad(r, line, "marks: past 2099-12-31");
			for (int h = 0; h < 2; h++) {
				if (half[h][0] == '-')
					continue;
				int code = codes_find(half[h], (int)strlen(half[h]));
				if (!codes_valid_on(code, next)) {
					const struct code *c = codes_get(code);
					return bad(r, line, "marks: code \"%s\" on %s: %s", c->text,
						   date_format(next, d),
						   c->valid_from > next
							   ? "valid only from 2024-08-19 (2024 "
							     "regulations)"
							   : "a pre-2024 code, withdrawn on "
							     "2024-08-19");
				}
				if (++r->marks > MARKS_MAX)
					return bad(r, line,
						   "marks: the test file holds more than %d marks",
						   MARKS_MAX);
				if (pp->nmarks == cap)
					pp->marks = xrealloc(pp->marks,
							     (size_t)(cap = cap ? 2 * cap : 64) *
								     sizeof *pp->marks);
				struct pt_mark *m = &pp->marks[pp->nmarks++];
				m->day = next;
				m->session = h;
				snprintf(m->code, sizeof m->code, "%s", half[h]);
			}
			next = next_weekday(next);
		}
	}
	return 0;
}

/* ---- reading a test file ---- */

struct pt_file {
	char *policy;
	int policy_line;
	char org[24]; /* the policy's */
	struct pt_school *schools;
	int nschools;
	int start;
	struct pt_param *params;
	int nparams;
	struct pt_case *cases;
	int ncases;
};

static void free_schools(struct pt_school *s, int n)
{
	for (int i = 0; i < n; i++) {
		free(s[i].name);
		free(s[i].phase);
	}
	free(s);
}

static void free_case(struct pt_case *c)
{
	free(c->name);
	free(c->pending);
	free_schools(c->schools, c->nschools);
	for (int i = 0; i < c->npupils; i++)
		free(c->pupils[i].marks);
	free(c->pupils);
	free(c->params);
	free(c->points);
	for (int i = 0; i < c->nexpect; i++)
		free(c->expect[i].reason);
	free(c->expect);
}

static void free_file(struct pt_file *f)
{
	free(f->policy);
	free_schools(f->schools, f->nschools);
	free(f->params);
	for (int i = 0; i < f->ncases; i++)
		free_case(&f->cases[i]);
	free(f->cases);
	memset(f, 0, sizeof *f);
}

/* The optional string key of the table at t into out; 0 absent, 1 read,
 * -1 reported. */
static int opt_string(struct rd *r, int t, int tline, const char *key, char *out, size_t size)
{
	int line;
	if (field(r, t, key, tline, &line) == LUA_TNIL) {
		lua_pop(r->L, 1);
		return 0;
	}
	int rc = to_buf(r, line, key, out, size);
	lua_pop(r->L, 1);
	return rc < 0 ? -1 : 1;
}

static int opt_bool(struct rd *r, int t, int tline, const char *key, int *out)
{
	int line, type = field(r, t, key, tline, &line);
	if (type != LUA_TNIL && type != LUA_TBOOLEAN) {
		lua_pop(r->L, 1);
		return bad(r, line, "%s must be true or false", key);
	}
	if (type == LUA_TBOOLEAN)
		*out = lua_toboolean(r->L, -1);
	lua_pop(r->L, 1);
	return 0;
}

/* start = "YYYY-MM-DD": a weekday. */
static int opt_start(struct rd *r, int t, int tline, int *start)
{
	char s[16];
	int line, rc = opt_string(r, t, tline, "start", s, sizeof s);
	if (rc <= 0)
		return rc;
	field(r, t, "start", tline, &line);
	lua_pop(r->L, 1);
	int day = parse_day(r, line, "start", s, strlen(s));
	if (day < 0)
		return -1;
	if (date_weekday(day) >= 5)
		return bad(r, line,
			   "start %s is a %s: marks start on a school day, Monday to "
			   "Friday",
			   s, weekdays[date_weekday(day)]);
	*start = day;
	return 1;
}

static int read_schools(struct rd *r, int t, int tline, struct pt_school **out, int *nout)
{
	static const char *const keys[] = { "urn", "name", "la_code", "trust_id", "phase", NULL };
	lua_State *L = r->L;
	if (!lua_istable(L, t))
		return bad(r, tline,
			   "schools must be a list: { { urn = \"135001\", la_code = "
			   "\"355\" }, ... }");
	int n = list_len(r, t, tline, "schools", "schools");
	if (n <= 0)
		return n < 0 ? -1 : bad(r, tline, "schools: the list is empty");
	struct pt_school *s = xcalloc((size_t)n, sizeof *s);
	size_t ctx = strlen(r->ctx);
	*out = s;
	*nout = n;
	for (int i = 0; i < n; i++) {
		snprintf(r->ctx + ctx, sizeof r->ctx - ctx, "%sschools[%d]", ctx ? ": " : "",
			 i + 1);
		lua_rawgeti(L, t, i + 1);
		int at = lua_gettop(L), line = datafile_table_line(L, at);
		line = line ? line : tline;
		s[i].line = line;
		char name[256] = "", phase[80] = "";
		int bad_one = !lua_istable(L, at);
		if (bad_one)
			bad(r, line, "must be a table { urn = ..., la_code = ... }");
		else if (known_keys(r, at, line, keys, "a school") < 0 ||
			 opt_string(r, at, line, "urn", s[i].urn, sizeof s[i].urn) < 0 ||
			 opt_string(r, at, line, "la_code", s[i].la_code, sizeof s[i].la_code) <
				 0 ||
			 opt_string(r, at, line, "trust_id", s[i].trust_id, sizeof s[i].trust_id) <
				 0 ||
			 opt_string(r, at, line, "name", name, sizeof name) < 0 ||
			 opt_string(r, at, line, "phase", phase, sizeof phase) < 0)
			bad_one = 1;
		else if (!urn_valid(s[i].urn, (int)strlen(s[i].urn)))
			bad_one = bad(r, line, "urn \"%s\" must be 6 digits (urn = \"135001\")",
				      s[i].urn);
		else if (!la_code_valid(s[i].la_code, (int)strlen(s[i].la_code)))
			bad_one =
				bad(r, line, "la_code \"%s\" must be 3 digits (la_code = \"355\")",
				    s[i].la_code);
		else if (s[i].trust_id[0] &&
			 !trust_id_valid(s[i].trust_id, (int)strlen(s[i].trust_id)))
			bad_one = bad(r, line, "trust_id \"%s\" must be 1-16 letters or digits",
				      s[i].trust_id);
		for (int k = 0; !bad_one && k < i; k++)
			if (!strcmp(s[k].urn, s[i].urn))
				bad_one = bad(r, line, "urn %s is already schools[%d]", s[i].urn,
					      k + 1);
		lua_pop(L, 1);
		r->ctx[ctx] = '\0';
		if (bad_one)
			return -1;
		if (!name[0])
			snprintf(name, sizeof name, "School %s", s[i].urn);
		s[i].name = xstrdup(name);
		s[i].phase = phase[0] ? xstrdup(phase) : NULL;
	}
	return 0;
}

static int param_cmp(const void *a, const void *b)
{
	return strcmp(((const struct pt_param *)a)->name, ((const struct pt_param *)b)->name);
}

/* params = { name = value, ... }, each checked as `rollcall params` checks
 * it, merged into *out (a later one wins). */
static int read_params(struct rd *r, int t, int tline, struct pt_param **out, int *nout)
{
	lua_State *L = r->L;
	const struct policy *p = r->pol;
	if (!lua_istable(L, t))
		return bad(r, tline, "params must be a table: { name = value, ... }");
	lua_pushnil(L);
	while (lua_next(L, t)) {
		int line = datafile_key_line(L, t, -2, tline);
		const char *name = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
		int k = name ? policy_param(p, name) : -1;
		if (k < 0) {
			char list[400] = "";
			for (int i = 0; i < p->nparams; i++)
				snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s",
					 i ? ", " : "", p->params[i].name);
			bad(r, line, "params: %s declares no param '%.60s' (its params: %s)",
			    p->file, name ? name : "?", p->nparams ? list : "none");
			lua_pop(L, 2);
			return -1;
		}
		if (lua_type(L, -1) != LUA_TNUMBER) {
			lua_pop(L, 2);
			return bad(r, line, "params: %s must be a number", name);
		}
		double v = lua_tonumber(L, -1);
		const struct param *q = &p->params[k];
		const char *why = policy_param_refuses(q, v);
		if (why) {
			lua_pop(L, 2);
			if (q->integer && v >= q->min && v <= q->max)
				return bad(
					r, line,
					"params: %s = %g: not a whole number (%s declares it with "
					"integer = true)",
					name, v, p->file);
			return bad(r, line,
				   "params: %s = %g: outside the bounds %g..%g that %s "
				   "declares",
				   name, v, q->min, q->max, p->file);
		}
		int i = 0;
		while (i < *nout && strcmp((*out)[i].name, q->name))
			i++;
		if (i == *nout) {
			*out = xrealloc(*out, (size_t)(*nout + 1) * sizeof **out);
			(*nout)++;
		}
		snprintf((*out)[i].name, sizeof(*out)[i].name, "%s", q->name);
		(*out)[i].value = v;
		(*out)[i].line = line;
		lua_pop(L, 1);
	}
	qsort(*out, (size_t)*nout, sizeof **out, param_cmp);
	return 0;
}

/* A UPN, with the check letter its digits call for when it is wrong: a
 * council officer writing a test can then just use that. */
static int check_upn(struct rd *r, int line, const char *upn)
{
	size_t len = strlen(upn);
	char want = len == 13 ? upn_check_letter(upn + 1) : 0;
	if (len != 13 || !want)
		return bad(r, line,
			   "upn \"%s\": a UPN is 13 characters: a check letter, 11 "
			   "digits and a digit or letter (such as J355400120001)",
			   upn);
	if (upn[0] != want)
		return bad(r, line, "upn \"%s\": wrong check letter (the digits give %c: %c%s)",
			   upn, want, want, upn + 1);
	return 0;
}

static int read_pupil(struct rd *r, int at, int line, int i, struct pt_case *c, int start,
		      struct pt_pupil *pp)
{
	static const char *const keys[] = { "upn",	     "urn",   "year_group", "sen", "fsm",
					    "social_worker", "start", "marks",	    NULL };
	lua_State *L = r->L;
	pp->line = line;
	if (!lua_istable(L, at))
		return bad(r, line, "pupils[%d] must be a table { upn = ..., marks = ... }", i + 1);
	if (known_keys(r, at, line, keys, "a pupil") < 0)
		return -1;
	int k, kline;
	if ((k = opt_string(r, at, line, "upn", pp->upn, sizeof pp->upn)) <= 0)
		return k < 0 ? -1 : bad(r, line, "pupils[%d]: upn is missing", i + 1);
	field(r, at, "upn", line, &kline);
	lua_pop(L, 1);
	if (check_upn(r, kline, pp->upn) < 0)
		return -1;
	for (int j = 0; j < i; j++)
		if (!strcmp(c->pupils[j].upn, pp->upn))
			return bad(r, kline, "upn %s is already pupils[%d] of this case", pp->upn,
				   j + 1);
	snprintf(r->ctx + strlen(r->ctx), sizeof r->ctx - strlen(r->ctx), ": %s", pp->upn);

	if ((k = opt_string(r, at, line, "urn", pp->urn, sizeof pp->urn)) < 0)
		return -1;
	field(r, at, "urn", line, &kline);
	lua_pop(L, 1);
	if (k == 0 && c->nschools != 1)
		return bad(r, line, "urn: which school? (the case has %d)", c->nschools);
	if (k == 0)
		memcpy(pp->urn, c->schools[0].urn, sizeof pp->urn);
	int found = 0;
	for (int j = 0; j < c->nschools; j++)
		found |= !strcmp(c->schools[j].urn, pp->urn);
	if (!found)
		return bad(r, kline, "urn %s is none of the schools", pp->urn);

	int type = field(r, at, "year_group", line, &kline);
	if (type == LUA_TNUMBER && lua_isinteger(L, -1) && lua_tointeger(L, -1) >= 1 &&
	    lua_tointeger(L, -1) <= 14)
		snprintf(pp->year_group, sizeof pp->year_group, "%d", (int)lua_tointeger(L, -1));
	else if (type == LUA_TNIL)
		snprintf(pp->year_group, sizeof pp->year_group, DEFAULT_YEAR);
	else if (to_buf(r, kline, "year_group", pp->year_group, sizeof pp->year_group) < 0) {
		lua_pop(L, 1);
		return -1;
	}
	lua_pop(L, 1);
	if (!year_group_valid(pp->year_group, (int)strlen(pp->year_group)))
		return bad(r, kline, "year_group \"%s\": must be N1, N2, R, 1-14 or X",
			   pp->year_group);
	snprintf(pp->sen, sizeof pp->sen, "N");
	char sen[8] = "";
	if ((k = opt_string(r, at, line, "sen", sen, sizeof sen)) < 0)
		return -1;
	field(r, at, "sen", line, &kline);
	lua_pop(L, 1);
	if (k && (strlen(sen) != 1 || !strchr("NKE", sen[0])))
		return bad(r, kline, "sen \"%s\": must be N, K or E", sen);
	if (k)
		pp->sen[0] = sen[0];
	if (opt_bool(r, at, line, "fsm", &pp->fsm) < 0 ||
	    opt_bool(r, at, line, "social_worker", &pp->social_worker) < 0)
		return -1;
	if ((k = opt_start(r, at, line, &start)) < 0)
		return -1;

	type = field(r, at, "marks", line, &kline);
	if (type != LUA_TSTRING) {
		lua_pop(L, 1);
		return bad(r, type == LUA_TNIL ? line : kline,
			   type == LUA_TNIL ? "marks are missing: marks = [[ /\\ /\\ NN ]], one "
					      "token a school day"
					    : "marks must be a string: marks = [[ /\\ /\\ NN ]]");
	}
	if (start < 0) {
		lua_pop(L, 1);
		return bad(r, kline,
			   "marks: no start date: give start = \"YYYY-MM-DD\" (the "
			   "first day of marks) at the top, in the case or here");
	}
	size_t len;
	const char *s = lua_tolstring(L, -1, &len);
	int rc = parse_marks(r, s, len, start, kline, pp);
	lua_pop(L, 1);
	return rc;
}

/* date = "YYYY-MM-DD", or a range "A..B", "A..", "..B" */
static int read_range(struct rd *r, int line, const char *s, int *from, int *to)
{
	const char *dots = strstr(s, "..");
	*from = DATE_MIN;
	*to = DATE_MAX;
	if (!dots) {
		*from = *to = parse_day(r, line, "date", s, strlen(s));
		return *from < 0 ? -1 : 0;
	}
	if (dots == s && !dots[2])
		return bad(r, line, "date \"..\": give a date at either end, or leave date out");
	if (dots > s && (*from = parse_day(r, line, "date", s, (size_t)(dots - s))) < 0)
		return -1;
	if (dots[2] && (*to = parse_day(r, line, "date", dots + 2, strlen(dots + 2))) < 0)
		return -1;
	if (*from > *to)
		return bad(r, line, "date \"%s\": the range ends before it starts", s);
	return 0;
}

/* Does the policy name this kind at one of its action lines? 1 yes, or it
 * computes some kinds (then it may); 0 no. */
static int policy_names(const struct covered *cov, int action, const char *kind)
{
	int any = 0;
	for (int i = 0; i < cov->nsites; i++) {
		const struct site *s = &cov->sites[i];
		if (s->action != action)
			continue;
		any = 1;
		if (!kind[0] || !s->kind[0] || !strcmp(s->kind, kind))
			return 1;
	}
	return kind[0] ? 0 : any;
}

static int read_expect(struct rd *r, int at, int line, struct pt_case *c, int never,
		       struct pt_expect *x)
{
	static const char *const keys[] = { "upn",	   "alert", "referral", "legal_step",
					    "case_closed", "date",  "severity", "reason",
					    "count",	   NULL };
	lua_State *L = r->L;
	const char *list = never ? "never" : "expect";
	x->line = line;
	x->never = never;
	x->count = -1;
	x->from = DATE_MIN;
	x->to = DATE_MAX;
	if (!lua_istable(L, at))
		return bad(r, line, "%s: each item is a table, such as { legal_step = \"letter\" }",
			   list);
	if (known_keys(r, at, line, keys, never ? "a never item" : "an expectation") < 0)
		return -1;
	int k, kline;
	if ((k = opt_string(r, at, line, "upn", x->upn, sizeof x->upn)) < 0)
		return -1;
	if (k) {
		field(r, at, "upn", line, &kline);
		lua_pop(L, 1);
		int found = 0;
		for (int i = 0; i < c->npupils; i++)
			found |= !strcmp(c->pupils[i].upn, x->upn);
		if (!found)
			return bad(r, kline, "upn %s is none of the case's pupils", x->upn);
	}
	x->action = -1;
	for (int a = 0; a < A_COUNT; a++) {
		int type = field(r, at, action_words[a], line, &kline);
		if (type == LUA_TNIL) {
			lua_pop(L, 1);
			continue;
		}
		if (x->action >= 0) {
			lua_pop(L, 1);
			return bad(r, kline, "%s and %s in one item: each item is one action",
				   action_words[x->action], action_words[a]);
		}
		x->action = a;
		if (type == LUA_TBOOLEAN && lua_toboolean(L, -1)) {
			lua_pop(L, 1);
			continue;
		}
		if ((a == A_REFERRAL || a == A_CASE_CLOSED) || type != LUA_TSTRING) {
			lua_pop(L, 1);
			return bad(r, kline, "%s",
				   a == A_ALERT ? "alert = \"KIND\", or true for any kind"
				   : a == A_LEGAL_STEP
					   ? "legal_step = \"STEP\", or true for any step"
				   : a == A_REFERRAL ? "referral = true"
						     : "case_closed = true (and reason = "
						       "\"...\" to match its reason)");
		}
		int rc = to_buf(r, kline, action_words[a], x->kind, sizeof x->kind);
		lua_pop(L, 1);
		if (rc < 0)
			return -1;
		if (a == A_LEGAL_STEP && actions_legal_step(x->kind) < 0)
			return bad(r, kline,
				   "legal_step \"%s\" is not a step (letter, meeting, "
				   "attendance_contract, notice_to_improve, penalty_notice, "
				   "education_supervision_order, school_attendance_order, "
				   "prosecution)",
				   x->kind);
		for (const char *p = x->kind; a == A_ALERT && *p; p++)
			if (!islower((unsigned char)*p) && !isdigit((unsigned char)*p) && *p != '_')
				return bad(
					r, kline,
					"alert \"%s\": a kind is lower-case letters, digits and _",
					x->kind);
	}
	if (x->action < 0)
		return bad(r, line,
			   "which action? give one of alert = \"KIND\", referral = true, "
			   "legal_step = \"STEP\", case_closed = true");
	char sev[16] = "", date[40] = "";
	if ((k = opt_string(r, at, line, "severity", sev, sizeof sev)) < 0)
		return -1;
	field(r, at, "severity", line, &kline);
	lua_pop(L, 1);
	if (k) {
		int s = 0;
		while (severities[s] && strcmp(severities[s], sev))
			s++;
		if (!severities[s])
			return bad(r, kline, "severity \"%s\": low, medium, high or urgent", sev);
		if (x->action == A_CASE_CLOSED)
			return bad(r, kline, "severity: a case closure has none");
		snprintf(x->severity, sizeof x->severity, "%s", severities[s]);
	}
	int type = field(r, at, "reason", line, &kline);
	if (type != LUA_TNIL) {
		char reason[POLICY_TEXT_BYTES + 1];
		int rc = x->action != A_CASE_CLOSED
				 ? bad(r, kline, "reason: only a case_closed item has one")
				 : to_buf(r, kline, "reason", reason, sizeof reason);
		lua_pop(L, 1);
		if (rc < 0)
			return -1;
		x->reason = xstrdup(reason);
	} else {
		lua_pop(L, 1);
	}
	if ((k = opt_string(r, at, line, "date", date, sizeof date)) < 0)
		return -1;
	field(r, at, "date", line, &kline);
	lua_pop(L, 1);
	if (k && read_range(r, kline, date, &x->from, &x->to) < 0)
		return -1;
	type = field(r, at, "count", line, &kline);
	if (type != LUA_TNIL) {
		int ok = lua_isinteger(L, -1) && lua_tointeger(L, -1) >= 0 &&
			 lua_tointeger(L, -1) <= LIST_MAX;
		x->count = ok ? (int)lua_tointeger(L, -1) : -1;
		lua_pop(L, 1);
		if (never)
			return bad(r, kline, "count: a never item has none (it happens 0 times)");
		if (!ok)
			return bad(r, kline, "count must be a whole number from 0 to %d", LIST_MAX);
	} else {
		lua_pop(L, 1);
	}
	/* A never item for an alert kind the policy never names cannot fail:
	 * say so, in case the kind is misspelt. (Steps are checked against the
	 * ladder; `never = { { legal_step = true } }` for a policy with none
	 * guards a later change, and is said nothing of.) */
	if (never && x->action == A_ALERT && x->kind[0] &&
	    !policy_names(r->cov, A_ALERT, x->kind)) {
		char kinds[400] = "";
		for (int i = 0; i < r->cov->nsites; i++)
			if (r->cov->sites[i].action == A_ALERT)
				snprintf(kinds + strlen(kinds), sizeof kinds - strlen(kinds),
					 "%s%s", kinds[0] ? ", " : "", r->cov->sites[i].kind);
		warn(r, line,
		     "%s never raises alert \"%s\" (its alerts: %s): this item cannot fail as "
		     "the policy stands",
		     r->pol->file, x->kind, kinds[0] ? kinds : "none");
	}
	return 0;
}

static int int_cmp(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;
	return x < y ? -1 : x > y;
}

static int read_points(struct rd *r, int t, int tline, struct pt_case *c)
{
	lua_State *L = r->L;
	if (!lua_istable(L, t))
		return bad(r, tline,
			   "evaluate must be a list of dates: { \"2025-09-12\", "
			   "\"2025-09-19 AM\" }");
	int n = list_len(r, t, tline, "evaluate", "dates");
	if (n <= 0)
		return n < 0 ? -1
			     : bad(r, tline,
				   "evaluate: the list is empty (leave it out to "
				   "evaluate after every session)");
	c->points = xcalloc((size_t)n, sizeof *c->points);
	for (int i = 0; i < n; i++) {
		lua_pushinteger(L, i + 1);
		int line = datafile_key_line(L, t, -1, tline);
		lua_pop(L, 1);
		lua_rawgeti(L, t, i + 1);
		size_t len = 0;
		const char *s = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &len) : "";
		char buf[16] = "";
		int day = -1, session = 1;
		if (len == 10)
			day = date_parse(s, 10);
		else if (len == 13 && s[10] == ' ' && (session = session_parse(s + 11, 2)) >= 0)
			day = date_parse(s, 10);
		snprintf(buf, sizeof buf, "%.15s", s);
		lua_pop(L, 1);
		if (day < 0)
			return bad(r, line,
				   "evaluate[%d] \"%s\": a date, YYYY-MM-DD (after that day's "
				   "registers), or \"YYYY-MM-DD AM\" (after its morning's)",
				   i + 1, buf);
		c->points[i] = 2 * day + session;
	}
	qsort(c->points, (size_t)n, sizeof *c->points, int_cmp);
	c->npoints = n;
	return 0;
}

static int read_list(struct rd *r, int at, int cline, struct pt_case *c, const char *key, int never)
{
	lua_State *L = r->L;
	int line;
	if (field(r, at, key, cline, &line) == LUA_TNIL) {
		lua_pop(L, 1);
		return 0;
	}
	int t = lua_gettop(L), n;
	if (!lua_istable(L, t))
		n = bad(r, line, "%s must be a list: { { legal_step = \"letter\" }, ... }", key);
	else
		n = list_len(r, t, line, key,
			     never ? "actions that must not happen" : "expected actions");
	if (n < 0) {
		lua_pop(L, 1);
		return -1;
	}
	c->expect = xrealloc(c->expect, (size_t)(c->nexpect + n + 1) * sizeof *c->expect);
	size_t ctx = strlen(r->ctx);
	for (int i = 0; i < n; i++) {
		lua_rawgeti(L, t, i + 1);
		int iline = datafile_table_line(L, -1);
		struct pt_expect *x = &c->expect[c->nexpect];
		memset(x, 0, sizeof *x);
		snprintf(r->ctx + ctx, sizeof r->ctx - ctx, ": %s[%d]", key, i + 1);
		int rc = read_expect(r, lua_gettop(L), iline ? iline : line, c, never, x);
		r->ctx[ctx] = '\0';
		lua_pop(L, 1);
		c->nexpect++;
		if (rc < 0) {
			lua_pop(L, 1);
			return -1;
		}
	}
	lua_pop(L, 1);
	return n;
}

/* Is the school one the policy sees? */
static int covers(const struct policy *p, const struct pt_school *s)
{
	if (!strncmp(p->org, "la:", 3))
		return !strcmp(p->org + 3, s->la_code);
	return s->trust_id[0] && !strcmp(p->org + 6, s->trust_id);
}

static int read_case(struct rd *r, int at, int line, int index, struct pt_file *f,
		     struct pt_case *c)
{
	static const char *const keys[] = { "name",	    "schools",	"start",  "params",
					    "pupils",	    "evaluate", "expect", "never",
					    "nothing_else", "pending",	NULL };
	lua_State *L = r->L;
	char name[256];
	int k, kline;
	c->line = line;
	snprintf(r->ctx, sizeof r->ctx, "cases[%d]", index + 1);
	if (!lua_istable(L, at))
		return bad(r, line, "must be a table { name = ..., pupils = ..., expect = ... }");
	if (known_keys(r, at, line, keys, "a case") < 0)
		return -1;
	if ((k = opt_string(r, at, line, "name", name, sizeof name)) <= 0)
		return k < 0 ? -1 : bad(r, line, "name is missing: name = \"what it shows\"");
	for (int i = 0; i < index; i++)
		if (!strcmp(f->cases[i].name, name))
			return bad(r, line, "case \"%s\" is already cases[%d]", name, i + 1);
	c->name = xstrdup(name);
	snprintf(r->ctx, sizeof r->ctx, "case \"%s\"", name);

	if (field(r, at, "schools", line, &kline) != LUA_TNIL) {
		int rc = read_schools(r, lua_gettop(L), kline, &c->schools, &c->nschools);
		lua_pop(L, 1);
		if (rc < 0)
			return -1;
	} else {
		lua_pop(L, 1);
		if (!f->nschools)
			return bad(r, line,
				   "no schools: give schools = { { urn = \"135001\", "
				   "la_code = \"355\" } } at the top or in the case");
		c->schools = xcalloc((size_t)f->nschools, sizeof *c->schools);
		for (int i = 0; i < f->nschools; i++) {
			c->schools[i] = f->schools[i];
			c->schools[i].name = xstrdup(f->schools[i].name);
			c->schools[i].phase =
				f->schools[i].phase ? xstrdup(f->schools[i].phase) : NULL;
		}
		c->nschools = f->nschools;
	}
	int start = f->start;
	if (opt_start(r, at, line, &start) < 0)
		return -1;
	if (f->nparams) {
		c->params = xcalloc((size_t)f->nparams, sizeof *c->params);
		memcpy(c->params, f->params, (size_t)f->nparams * sizeof *c->params);
		c->nparams = f->nparams;
	}
	if (field(r, at, "params", line, &kline) != LUA_TNIL) {
		int rc = read_params(r, lua_gettop(L), kline, &c->params, &c->nparams);
		lua_pop(L, 1);
		if (rc < 0)
			return -1;
	} else {
		lua_pop(L, 1);
	}

	if (field(r, at, "pupils", line, &kline) == LUA_TNIL) {
		lua_pop(L, 1);
		return bad(r, line, "pupils are missing: pupils = { { upn = ..., marks = ... } }");
	}
	int t = lua_gettop(L);
	int n = lua_istable(L, t) ? list_len(r, t, kline, "pupils", "pupils")
				  : bad(r, kline,
					"pupils must be a list: { { upn = ..., marks = "
					"... }, ... }");
	if (n == 0)
		n = bad(r, kline, "pupils: the list is empty");
	if (n < 0) {
		lua_pop(L, 1);
		return -1;
	}
	c->pupils = xcalloc((size_t)n, sizeof *c->pupils);
	size_t ctx = strlen(r->ctx);
	for (int i = 0; i < n; i++) {
		lua_rawgeti(L, t, i + 1);
		int pline = datafile_table_line(L, -1);
		snprintf(r->ctx + ctx, sizeof r->ctx - ctx, ": pupils[%d]", i + 1);
		int rc = read_pupil(r, lua_gettop(L), pline ? pline : kline, i, c, start,
				    &c->pupils[i]);
		r->ctx[ctx] = '\0';
		lua_pop(L, 1);
		c->npupils++;
		if (rc < 0) {
			lua_pop(L, 1);
			return -1;
		}
	}
	lua_pop(L, 1);
	int seen = 0;
	for (int i = 0; i < c->npupils; i++)
		for (int j = 0; j < c->nschools; j++)
			seen |= !strcmp(c->pupils[i].urn, c->schools[j].urn) &&
				covers(r->pol, &c->schools[j]);
	if (!seen)
		return bad(r, kline,
			   "none of the pupils is at a school %s sees (one whose %s is %s)",
			   r->pol->org, !strncmp(r->pol->org, "la:", 3) ? "la_code" : "trust_id",
			   strchr(r->pol->org, ':') + 1);

	if (field(r, at, "evaluate", line, &kline) != LUA_TNIL) {
		int rc = read_points(r, lua_gettop(L), kline, c);
		lua_pop(L, 1);
		if (rc < 0)
			return -1;
	} else {
		lua_pop(L, 1);
	}
	int expected = read_list(r, at, line, c, "expect", 0);
	int never = expected < 0 ? -1 : read_list(r, at, line, c, "never", 1);
	if (never < 0 || opt_bool(r, at, line, "nothing_else", &c->nothing_else) < 0)
		return -1;
	if (!expected && !never && !c->nothing_else)
		return bad(r, line, "the case checks nothing: give expect, never or nothing_else");
	char why[POLICY_TEXT_BYTES + 1];
	if ((k = opt_string(r, at, line, "pending", why, sizeof why)) < 0)
		return -1;
	if (k)
		c->pending = xstrdup(why);
	return 0;
}

/* a/b/../c -> a/c, and ./ dropped: the policy's path as a person writes it. */
static char *normalise(const char *path)
{
	size_t n = strlen(path);
	char *out = xmalloc(n + 2), *copy = xstrdup(path);
	const char **seg = xcalloc(n + 1, sizeof *seg);
	int nseg = 0, abs = path[0] == '/';
	for (char *save = NULL, *s = strtok_r(copy, "/", &save); s;
	     s = strtok_r(NULL, "/", &save)) {
		if (!strcmp(s, "."))
			continue;
		if (!strcmp(s, "..") && nseg > 0 && strcmp(seg[nseg - 1], ".."))
			nseg--;
		else if (!(abs && !strcmp(s, "..") && nseg == 0))
			seg[nseg++] = s;
	}
	out[0] = '\0';
	if (abs)
		strcat(out, "/");
	for (int i = 0; i < nseg; i++) {
		if (i)
			strcat(out, "/");
		strcat(out, seg[i]);
	}
	if (!out[0])
		strcat(out, ".");
	free(seg);
	free(copy);
	return out;
}

/* The policy path, relative to the test file's directory. By default, the
 * file of the test's name one directory up: tests/la-355.lua tests
 * ../la-355.lua. */
static char *policy_path(const char *test, const char *given)
{
	const char *slash = strrchr(test, '/');
	size_t dir = slash ? (size_t)(slash - test) : 0;
	char *joined;
	if (given && given[0] == '/')
		return normalise(given);
	const char *rel = given ? given : NULL;
	size_t n = dir + strlen(test) + (rel ? strlen(rel) : 0) + 8;
	joined = xmalloc(n);
	if (rel)
		snprintf(joined, n, "%.*s%s%s", (int)dir, test, dir ? "/" : "", rel);
	else
		snprintf(joined, n, "%.*s%s../%s", (int)dir, test, dir ? "/" : "",
			 slash ? slash + 1 : test);
	char *out = normalise(joined);
	free(joined);
	return out;
}

/* ---- action lines of a policy ---- */

/* The string literal that is the second argument of the call whose name
 * ends at s (alert(p, "kind") -> kind), if any. */
static void second_literal(const char *s, const char *end, char *out, size_t size)
{
	out[0] = '\0';
	while (s < end && isspace((unsigned char)*s))
		s++;
	if (s >= end || *s != '(')
		return;
	int depth = 0;
	for (s++; s < end; s++) {
		if (*s == '"' || *s == '\'') {
			char q = *s;
			for (s++; s < end && *s != q && *s != '\n'; s++)
				if (*s == '\\')
					s++;
		} else if (*s == '(' || *s == '{' || *s == '[') {
			depth++;
		} else if (*s == ')' || *s == '}' || *s == ']') {
			if (depth-- == 0)
				return;
		} else if (*s == ',' && depth == 0) {
			break;
		}
	}
	for (s++; s < end && isspace((unsigned char)*s); s++)
		;
	if (s >= end || (*s != '"' && *s != '\''))
		return;
	const char *from = ++s;
	while (s < end && *s != from[-1] && *s != '\\' && *s != '\n')
		s++;
	if (s < end && *s == from[-1] && (size_t)(s - from) < size) {
		memcpy(out, from, (size_t)(s - from));
		out[s - from] = '\0';
	}
}

struct site_scan {
	struct covered *cov;
	const char *end;
};

static int note_site(const struct lua_call *c, void *arg)
{
	static const struct {
		const char *name;
		int action;
	} fns[] = { { "alert", A_ALERT },
		    { "refer_mentor", A_REFERRAL },
		    { "legal_step", A_LEGAL_STEP },
		    { "close_case", A_CASE_CLOSED } };
	struct site_scan *sc = arg;
	struct covered *cov = sc->cov;
	for (size_t i = 0; i < sizeof fns / sizeof *fns; i++) {
		size_t n = strlen(fns[i].name);
		if (c->base != c->name || c->namelen != n || memcmp(c->name, fns[i].name, n))
			continue;
		cov->sites = xrealloc(cov->sites, (size_t)(cov->nsites + 1) * sizeof *cov->sites);
		struct site *s = &cov->sites[cov->nsites++];
		s->line = c->line;
		s->action = fns[i].action;
		second_literal(c->name + n, sc->end, s->kind, sizeof s->kind);
		if (fns[i].action == A_REFERRAL)
			s->kind[0] = '\0';
		if (s->kind[0])
			snprintf(s->what, sizeof s->what, "%s \"%.60s\"", fns[i].name, s->kind);
		else
			snprintf(s->what, sizeof s->what, "%s", fns[i].name);
	}
	return 0;
}

/* The policy at path, known again by its real path, or added. NULL
 * (err) if its text cannot be read. */
static struct covered *covered_for(struct ptest *t, const char *path, char *err, size_t errlen)
{
	char real[PATH_MAX];
	if (!realpath(path, real)) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	for (int i = 0; i < t->ncov; i++)
		if (!strcmp(t->cov[i].real, real))
			return &t->cov[i];
	size_t len;
	char *text = file_read(path, POLICY_FILE_MAX, &len, NULL, err, errlen);
	if (!text)
		return NULL;
	t->cov = xrealloc(t->cov, (size_t)(t->ncov + 1) * sizeof *t->cov);
	struct covered *cov = &t->cov[t->ncov++];
	memset(cov, 0, sizeof *cov);
	cov->path = xstrdup(path);
	cov->real = xstrdup(real);
	for (size_t i = 0; i < len; i++)
		cov->nlines += text[i] == '\n';
	cov->nlines++;
	cov->reached = xcalloc((size_t)cov->nlines + 2, 1);
	struct site_scan sc = { cov, text + len };
	lualex_calls(text, len, note_site, &sc);
	free(text);
	return cov;
}

/* ---- running a case ---- */

static void remove_db(const char *path)
{
	char p[PATH_MAX + 8];
	unlink(path);
	snprintf(p, sizeof p, "%s-wal", path);
	unlink(p);
	snprintf(p, sizeof p, "%s-shm", path);
	unlink(p);
}

static void load_error(const char *path, const char *err, int kept)
{
	(void)path;
	(void)kept;
	char *safe = text_safe(err, strlen(err), "\n\t");
	fprintf(stderr, "%s\n", safe);
	free(safe);
}

/* Store the case's schools and pupils as import does, and its params as
 * `rollcall params` does. 0, 2 refused (reported), -1 database error. */
static int store_setup(struct rd *r, struct db *db, const struct pt_case *c, const char *org)
{
	struct ingest in;
	char why[256];
	int status = -1;
	if (ingest_open(&in, db) < 0)
		return -1;
	sqlite3_stmt *set = db_prepare(db, "INSERT INTO params(org, name, value) VALUES (?, ?, ?) "
					   "ON CONFLICT(org, name) DO UPDATE SET value = "
					   "excluded.value, set_at = excluded.set_at");
	if (!set || db_begin(db) < 0)
		goto out;
	for (int i = 0; i < c->nschools; i++) {
		const struct pt_school *s = &c->schools[i];
		struct row row = { 0 };
		const char *v[] = { s->urn, s->name, s->la_code,
				    s->trust_id[0] ? s->trust_id : NULL, s->phase };
		for (int k = 0; k < 5; k++)
			if (v[k]) {
				row.s[k] = v[k];
				row.len[k] = (int)strlen(v[k]);
			}
		int rc = ingest_row(&in, KIND_SCHOOLS, &row, why, sizeof why);
		if (rc > 0) {
			bad(r, s->line, "school %s: %s", s->urn, why);
			status = 2;
		}
		if (rc)
			goto rollback;
	}
	for (int i = 0; i < c->npupils; i++) {
		const struct pt_pupil *p = &c->pupils[i];
		struct row row = { 0 };
		const char *v[] = { p->upn,	   p->urn,
				    p->year_group, p->social_worker ? "1" : "0",
				    p->sen,	   p->fsm ? "1" : "0" };
		for (int k = 0; k < 6; k++) {
			row.s[k] = v[k];
			row.len[k] = (int)strlen(v[k]);
		}
		int rc = ingest_row(&in, KIND_PUPILS, &row, why, sizeof why);
		if (rc > 0) {
			bad(r, p->line, "pupil %s: %s", p->upn, why);
			status = 2;
		}
		if (rc)
			goto rollback;
	}
	for (int i = 0; i < c->nparams; i++) {
		sqlite3_bind_text(set, 1, org, -1, SQLITE_STATIC);
		sqlite3_bind_text(set, 2, c->params[i].name, -1, SQLITE_STATIC);
		sqlite3_bind_double(set, 3, c->params[i].value);
		if (db_step_done(db, set, "storing a param") < 0) {
			goto rollback;
		}
	}
	status = db_commit(db);
	goto out;
rollback:
	db_rollback(db);
out:
	sqlite3_finalize(set);
	ingest_close(&in);
	return status;
}

/* One session's marks of every pupil, as the register a school's system
 * writes: one transaction of rows in incoming. */
struct slot {
	int pos; /* 2 * day + session */
	const struct pt_pupil *pupil;
	const char *code;
};

static int by_pos(const void *a, const void *b)
{
	const struct slot *x = a, *y = b;
	if (x->pos != y->pos)
		return x->pos < y->pos ? -1 : 1;
	return x->pupil < y->pupil ? -1 : x->pupil > y->pupil;
}

struct outcome {
	long errors;	 /* failed policy calls */
	int first_error; /* the session after which the first one failed */
	long rejected;
};

/* Insert slots [*next, up to pos] into incoming, then run batches until
 * the engine has nothing left. 0 or -1. */
static int feed(struct engine *e, sqlite3_stmt *ins, const struct slot *s, int n, int *next,
		int pos, struct outcome *o)
{
	struct db *db = e->db;
	if (*next >= n || s[*next].pos > pos)
		return 0;
	if (db_begin(db) < 0)
		return -1;
	for (; *next < n && s[*next].pos <= pos; ++*next) {
		char d[11];
		const struct slot *x = &s[*next];
		sqlite3_bind_text(ins, 1, x->pupil->upn, -1, SQLITE_STATIC);
		sqlite3_bind_text(ins, 2, x->pupil->urn, -1, SQLITE_STATIC);
		sqlite3_bind_text(ins, 3, date_format(x->pos / 2, d), -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(ins, 4, x->pos % 2 ? "PM" : "AM", -1, SQLITE_STATIC);
		sqlite3_bind_text(ins, 5, x->code, -1, SQLITE_STATIC);
		if (db_step_done(db, ins, "inserting into incoming") < 0) {
			db_rollback(db);
			return -1;
		}
	}
	if (db_commit(db) < 0)
		return -1;
	struct batch_stats st;
	int rc;
	while ((rc = engine_batch(e, &st)) > 0) {
		if (st.errors && !o->errors)
			o->first_error = pos;
		o->errors += st.errors;
		o->rejected += st.rejected;
	}
	return rc;
}

/* What was recorded, in order: case closures are actions too. */
static const char happened_sql[] =
	"SELECT upn, action, kind, severity, message, date FROM actions ORDER BY day, id";

struct happened {
	char upn[14], action[16], kind[72], severity[8];
	char *reason;
	int day, matched;
};

static int read_happened(struct db *db, struct happened **out, int *n)
{
	sqlite3_stmt *st = db_prepare(db, happened_sql);
	int rc, cap = 0;
	if (!st)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (*n == cap)
			*out = xrealloc(*out, (size_t)(cap = cap ? 2 * cap : 32) * sizeof **out);
		struct happened *h = &(*out)[(*n)++];
		memset(h, 0, sizeof *h);
		const char *col[4];
		for (int k = 0; k < 4; k++)
			col[k] = (const char *)sqlite3_column_text(st, k);
		snprintf(h->upn, sizeof h->upn, "%s", col[0] ? col[0] : "");
		snprintf(h->action, sizeof h->action, "%s", col[1] ? col[1] : "");
		snprintf(h->kind, sizeof h->kind, "%s", col[2] ? col[2] : "");
		snprintf(h->severity, sizeof h->severity, "%s", col[3] ? col[3] : "");
		h->reason = sqlite3_column_text(st, 4)
				    ? xstrdup((const char *)sqlite3_column_text(st, 4))
				    : NULL;
		const char *date = (const char *)sqlite3_column_text(st, 5);
		h->day = date ? date_parse(date, (int)strlen(date)) : -1;
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : db_fail(db, "reading what was recorded");
}

static int matches(const struct pt_expect *x, const struct happened *h)
{
	if (strcmp(h->action, action_words[x->action]))
		return 0;
	if (x->upn[0] && strcmp(x->upn, h->upn))
		return 0;
	if (x->kind[0] && x->action != A_CASE_CLOSED && strcmp(x->kind, h->kind))
		return 0;
	if (x->severity[0] && strcmp(x->severity, h->severity))
		return 0;
	if (x->reason && (!h->reason || strcmp(x->reason, h->reason)))
		return 0;
	return h->day >= x->from && h->day <= x->to;
}

/* "legal_step penalty_notice for J355... on 2025-10-03" */
static void describe(const struct pt_expect *x, char *buf, size_t size)
{
	char a[11], b[11];
	int n;
	if (x->kind[0])
		n = snprintf(buf, size, "%s %s", action_words[x->action], x->kind);
	else
		n = snprintf(buf, size, "%s%s", action_words[x->action],
			     x->action == A_ALERT	 ? " of any kind"
			     : x->action == A_LEGAL_STEP ? " of any step"
							 : "");
	if (x->severity[0])
		n += snprintf(buf + n, size - (size_t)n, " (%s)", x->severity);
	if (x->reason)
		n += snprintf(buf + n, size - (size_t)n, " \"%.80s\"", x->reason);
	n += snprintf(buf + n, size - (size_t)n, " for %s", x->upn[0] ? x->upn : "any pupil");
	if (x->from == x->to)
		snprintf(buf + n, size - (size_t)n, " on %s", date_format(x->from, a));
	else if (x->from > DATE_MIN && x->to < DATE_MAX)
		snprintf(buf + n, size - (size_t)n, " from %s to %s", date_format(x->from, a),
			 date_format(x->to, b));
	else if (x->from > DATE_MIN)
		snprintf(buf + n, size - (size_t)n, " on or after %s", date_format(x->from, a));
	else if (x->to < DATE_MAX)
		snprintf(buf + n, size - (size_t)n, " on or before %s", date_format(x->to, a));
}

static void show_one(const struct happened *h, int upn, char *buf, size_t size)
{
	char d[11];
	int n = snprintf(buf, size, "%s", h->action);
	if (strcmp(h->action, "referral") && strcmp(h->action, "case_closed"))
		n += snprintf(buf + n, size - (size_t)n, " %s", h->kind);
	if (!strcmp(h->action, "alert"))
		n += snprintf(buf + n, size - (size_t)n, " (%s)", h->severity);
	if (upn)
		n += snprintf(buf + n, size - (size_t)n, " for %s", h->upn);
	snprintf(buf + n, size - (size_t)n, " on %s", h->day >= 0 ? date_format(h->day, d) : "?");
}

/* What happened for upn (every pupil: ""), or only what pick marks. */
static void show_got(FILE *out, const struct happened *h, int n, const char *upn,
		     const struct pt_expect *pick, int all)
{
	int shown = 0, more = 0;
	for (int i = 0; i < n; i++) {
		if ((upn[0] && strcmp(upn, h[i].upn)) || (pick && !matches(pick, &h[i])))
			continue;
		if (shown == GOT_SHOWN && !all) {
			more++;
			continue;
		}
		char one[200];
		show_one(&h[i], !upn[0], one, sizeof one);
		fprintf(out, "%s%s", shown++ ? ", " : "", one);
	}
	if (!shown)
		fprintf(out, "nothing");
	if (more)
		fprintf(out, ", and %d more", more);
}

/* "FAIL FILE:LINE: case NAME: ", or PENDING for a case known to fail. */
static void fail_line(FILE *out, const char *label, const char *path, int line, const char *name)
{
	char *safe = text_safe(name, strlen(name), NULL);
	fprintf(out, "%s %s:%d: case \"%s\": ", label, path, line, safe);
	free(safe);
}

/* Match what happened against the case: a FAIL line for each miss. 1 if
 * anything failed. */
static int judge(FILE *out, const char *path, const struct pt_case *c, struct happened *h, int n,
		 const struct outcome *o, int all)
{
	int failed = 0;
	char what[400], d[11];
	const char *label = c->pending ? "PENDING" : "FAIL";
	if (o->errors) {
		fail_line(out, label, path, c->line, c->name);
		fprintf(out,
			"%ld call%s of on_pupil failed, the first after the %s register of %s "
			"(the error is in the log)\n",
			o->errors, o->errors == 1 ? "" : "s", o->first_error % 2 ? "PM" : "AM",
			date_format(o->first_error / 2, d));
		failed = 1;
	}
	for (int i = 0; i < c->nexpect; i++) {
		struct pt_expect one = c->expect[i];
		const struct pt_expect *x = &one;
		if (!one.upn[0] && c->npupils == 1) /* "for UPN", not "for any pupil" */
			memcpy(one.upn, c->pupils[0].upn, sizeof one.upn);
		int met = 0;
		for (int k = 0; k < n; k++)
			if (matches(x, &h[k])) {
				met++;
				h[k].matched |= !x->never;
			}
		int ok = x->never ? met == 0 : x->count < 0 ? met > 0 : met == x->count;
		if (ok)
			continue;
		failed = 1;
		describe(x, what, sizeof what);
		fail_line(out, label, path, x->line, c->name);
		if (x->never) {
			fprintf(out, "never %s, but got: ", what);
			show_got(out, h, n, x->upn, x, all);
		} else if (x->count >= 0) {
			fprintf(out, "expected %s exactly %d time%s, got %d: ", what, x->count,
				x->count == 1 ? "" : "s", met);
			show_got(out, h, n, x->upn, NULL, all);
		} else {
			fprintf(out, "expected %s, got: ", what);
			show_got(out, h, n, x->upn, NULL, all);
		}
		fputc('\n', out);
	}
	if (c->nothing_else) {
		int extra = 0;
		for (int k = 0; k < n; k++)
			extra += !h[k].matched;
		if (extra) {
			failed = 1;
			fail_line(out, label, path, c->line, c->name);
			fprintf(out, "nothing else expected, but got: ");
			for (int k = 0, shown = 0; k < n; k++) {
				if (h[k].matched)
					continue;
				if (shown == GOT_SHOWN && !all) {
					fprintf(out, ", and %d more", extra - shown);
					break;
				}
				show_one(&h[k], 1, what, sizeof what);
				fprintf(out, "%s%s", shown++ ? ", " : "", what);
			}
			fputc('\n', out);
		}
	}
	return failed;
}

/* Run one case: 0 passed, 1 failed, 2 its data was refused, -1 error. */
static int run_case(struct ptest *t, struct rd *r, const struct pt_file *f, const struct pt_case *c,
		    struct covered *cov)
{
	char path[PATH_MAX];
	struct db db = { 0 };
	struct engine e;
	int engine_open_ok = 0, status = -1, next = 0, nslots = 0;
	struct slot *slots = NULL;
	struct happened *h = NULL;
	int nh = 0;
	struct outcome o = { 0 };
	sqlite3_stmt *ins = NULL;

	snprintf(path, sizeof path, "%s/case.db", t->dir);
	remove_db(path);
	snprintf(r->ctx, sizeof r->ctx, "case \"%s\"", c->name);
	if (db_open(&db, path, DB_CREATE) < 0 || db_migrate(&db) < 0 ||
	    db_exec(&db, "PRAGMA synchronous=OFF") < 0)
		goto out;
	if ((status = store_setup(r, &db, c, f->org)) != 0)
		goto out;
	status = -1;
	if (engine_open(&e, &db, t->cfg) < 0)
		goto out;
	engine_open_ok = 1;
	/* as a replay: each proposal approved on the day proposed, so that a
	 * case tests the policy's ladder, not an officer's diary */
	e.actions.approve_as = "rollcall test (approved on the day proposed)";
	char *files[] = { f->policy };
	if (engine_load_policies(&e, files, 1, load_error) != 0) {
		fail_line(t->out, "FAIL", r->path, f->policy_line, c->name);
		fprintf(t->out, "the policy %s does not load (the error is above)\n", f->policy);
		status = 1;
		goto out;
	}
	cov->ran = 1;
	e.set.policies[0]->reached = cov->reached;
	e.set.policies[0]->nreached = cov->nlines + 1;

	for (int i = 0; i < c->npupils; i++)
		nslots += c->pupils[i].nmarks;
	slots = xcalloc((size_t)nslots + 1, sizeof *slots);
	for (int i = 0, k = 0; i < c->npupils; i++)
		for (int j = 0; j < c->pupils[i].nmarks; j++, k++) {
			const struct pt_mark *m = &c->pupils[i].marks[j];
			slots[k] = (struct slot){ 2 * m->day + m->session, &c->pupils[i], m->code };
		}
	qsort(slots, (size_t)nslots, sizeof *slots, by_pos);
	ins = db_prepare(&db, "INSERT INTO incoming(upn, urn, date, session, code) "
			      "VALUES (?, ?, ?, ?, ?)");
	if (!ins)
		goto out;
	if (c->npoints == 0) { /* after every session, as live */
		while (next < nslots)
			if (feed(&e, ins, slots, nslots, &next, slots[next].pos, &o) < 0)
				goto out;
	} else {
		for (int i = 0; i < c->npoints; i++)
			if (feed(&e, ins, slots, nslots, &next, c->points[i], &o) < 0)
				goto out;
	}
	if (o.rejected) {
		sqlite3_stmt *why = db_prepare(&db, "SELECT row, reason FROM rejected LIMIT 1");
		if (why && sqlite3_step(why) == SQLITE_ROW)
			bad(r, c->line, "%ld marks refused, as import would refuse them: %s: %s",
			    o.rejected, sqlite3_column_text(why, 0), sqlite3_column_text(why, 1));
		sqlite3_finalize(why);
		status = 2;
		goto out;
	}
	if (read_happened(&db, &h, &nh) < 0)
		goto out;
	status = judge(t->out, r->path, c, h, nh, &o, t->verbosity > 0);
	/* A pending case is one known to fail today (an engine rule not yet
	 * in force): it fails as said, or it passes and must lose its mark. */
	if (c->pending) {
		char *why = text_safe(c->pending, strlen(c->pending), NULL);
		fail_line(t->out, status ? "PENDING" : "FAIL", r->path, c->line, c->name);
		if (status)
			fprintf(t->out, "fails, as its pending says: %s\n", why);
		else
			fprintf(t->out,
				"passes now, but is marked pending (\"%s\"): remove "
				"pending\n",
				why);
		free(why);
		status = status ? 3 : 1;
	}
out:
	sqlite3_finalize(ins);
	if (engine_open_ok)
		engine_close(&e);
	db_close(&db);
	remove_db(path);
	free(slots);
	for (int i = 0; i < nh; i++)
		free(h[i].reason);
	free(h);
	return status;
}

/* ---- a test file ---- */

/* Read the whole file into f. 0, 1 the policy does not load (reported as
 * a FAIL), 2 bad (reported). */
static int read_test_file(struct ptest *t, struct rd *r, int values, struct pt_file *f,
			  struct covered **cov)
{
	lua_State *L = r->L;
	int line;
	if (known_keys(r, values, 1, top_keys, "a test file") < 0)
		return 2;
	int type = field(r, values, "policy", 1, &line);
	char given[PATH_MAX] = "";
	if (type != LUA_TNIL && to_buf(r, line, "policy", given, sizeof given) < 0) {
		lua_pop(L, 1);
		return 2;
	}
	lua_pop(L, 1);
	f->policy_line = type == LUA_TNIL ? 1 : line;
	f->policy = policy_path(r->path, given[0] ? given : NULL);

	if (access(f->policy, F_OK) != 0) {
		bad(r, f->policy_line,
		    "%s: %s (policy = \"FILE\" names the policy to test, "
		    "relative to this file; by default ../%s)",
		    f->policy, strerror(errno),
		    strrchr(r->path, '/') ? strrchr(r->path, '/') + 1 : r->path);
		return 2;
	}
	/* the policy: for its params and org, and its action lines */
	char err[4608];
	struct policy *pol = xcalloc(1, sizeof *pol);
	if (policy_load(pol, f->policy, t->cfg->scripts, t->cfg->policy_memory,
			t->cfg->policy_instructions, err, sizeof err) < 0) {
		load_error(f->policy, err, 0);
		fprintf(t->out, "FAIL %s:%d: the policy %s does not load (the error is above)\n",
			r->path, f->policy_line, f->policy);
		free(pol);
		return 1;
	}
	int status = 2;
	if (!(*cov = covered_for(t, f->policy, err, sizeof err))) {
		fprintf(stderr, "%s\n", err);
		goto out;
	}
	r->pol = pol;
	r->cov = *cov;
	snprintf(f->org, sizeof f->org, "%s", pol->org);
	f->start = -1;
	if (field(r, values, "schools", 1, &line) != LUA_TNIL &&
	    read_schools(r, lua_gettop(L), line, &f->schools, &f->nschools) < 0) {
		lua_pop(L, 1);
		goto out;
	}
	lua_pop(L, 1);
	if (opt_start(r, values, 1, &f->start) < 0)
		goto out;
	if (field(r, values, "params", 1, &line) != LUA_TNIL &&
	    read_params(r, lua_gettop(L), line, &f->params, &f->nparams) < 0) {
		lua_pop(L, 1);
		goto out;
	}
	lua_pop(L, 1);
	if (field(r, values, "cases", 1, &line) == LUA_TNIL) {
		lua_pop(L, 1);
		bad(r, 1, "no cases: cases = { { name = ..., pupils = ..., expect = ... } }");
		goto out;
	}
	int at = lua_gettop(L);
	int n = lua_istable(L, at) ? list_len(r, at, line, "cases", "cases")
				   : bad(r, line, "cases must be a list: { { name = ... }, ... }");
	if (n == 0)
		n = bad(r, line, "cases: the list is empty");
	if (n > 0)
		f->cases = xcalloc((size_t)n, sizeof *f->cases);
	for (int i = 0; i < n; i++) {
		lua_rawgeti(L, at, i + 1);
		int cline = datafile_table_line(L, -1);
		int rc = read_case(r, lua_gettop(L), cline ? cline : line, i, f, &f->cases[i]);
		lua_pop(L, 1);
		f->ncases++;
		r->ctx[0] = '\0';
		if (rc < 0) {
			n = -1;
			break;
		}
	}
	lua_pop(L, 1);
	if (n > 0)
		status = 0;
out:
	r->pol = NULL;
	policy_free(pol);
	free(pol);
	return status;
}

int ptest_file(struct ptest *t, const char *path)
{
	char err[PATH_MAX + 256];
	size_t len;
	struct pt_file f = { 0 };
	struct covered *cov = NULL;
	int status = 2;
	t->files++;
	char *text = file_read(path, TEST_FILE_MAX, &len, NULL, err, sizeof err);
	if (!text) {
		fprintf(stderr, "%s\n", err);
		t->bad_files++;
		return 2;
	}
	lua_State *L = datafile_open(&test_file);
	if (!L) {
		error("%s: out of memory", path);
		free(text);
		t->broken++;
		return -1;
	}
	struct rd r = { .L = L, .path = path };
	if (datafile_run(L, path, text, len, err, sizeof err) == 0)
		status = read_test_file(t, &r, lua_gettop(L), &f, &cov);
	else {
		char *safe = text_safe(err, strlen(err), NULL); /* it may quote the file */
		fprintf(stderr, "%s\n", safe);
		free(safe);
	}
	free(text);
	if (status == 2)
		t->bad_files++;
	if (status != 0) {
		t->failed += status == 1;
		datafile_close(L);
		free_file(&f);
		return status;
	}
	int failed = 0;
	for (int i = 0; i < f.ncases && status >= 0; i++) {
		const struct pt_case *c = &f.cases[i];
		int rc = run_case(t, &r, &f, c, cov);
		if (rc < 0) {
			t->broken++;
			status = -1;
		} else if (rc == 2) {
			t->bad_files++;
			status = 2;
			break;
		} else if (rc == 3) {
			t->cases++;
			t->pending++;
		} else if (rc == 1) {
			t->cases++;
			t->failed++;
			failed = 1;
		} else {
			t->cases++;
			t->passed++;
			if (t->verbosity >= 0) {
				char *safe = text_safe(c->name, strlen(c->name), NULL);
				fprintf(t->out, "ok %s: case \"%s\"\n", path, safe);
				free(safe);
			}
		}
		fflush(t->out);
	}
	datafile_close(L);
	free_file(&f);
	return status < 0 ? -1 : status == 2 ? 2 : failed;
}

struct ptest *ptest_new(const struct config *cfg, FILE *out, int verbosity)
{
	const char *tmp = getenv("TMPDIR");
	char dir[PATH_MAX];
	snprintf(dir, sizeof dir, "%s/rollcall-policytest-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(dir)) {
		error("%s: cannot make a temporary directory: %s", dir, strerror(errno));
		return NULL;
	}
	struct ptest *t = xcalloc(1, sizeof *t);
	t->cfg = cfg;
	t->out = out;
	t->verbosity = verbosity;
	t->dir = xstrdup(dir);
	return t;
}

int ptest_finish(struct ptest *t)
{
	FILE *out = t->out;
	fprintf(out, "%d case%s in %d file%s: %d passed, %d failed", t->cases,
		t->cases == 1 ? "" : "s", t->files, t->files == 1 ? "" : "s", t->passed, t->failed);
	if (t->pending)
		fprintf(out, ", %d pending (known to fail)", t->pending);
	if (t->bad_files)
		fprintf(out, "; %d test file%s could not be read", t->bad_files,
			t->bad_files == 1 ? "" : "s");
	if (t->broken)
		fprintf(out, "; %d could not run", t->broken);
	fputc('\n', out);
	for (int i = 0; i < t->ncov; i++) {
		const struct covered *cov = &t->cov[i];
		int lines = 0, reached = 0;
		if (!cov->ran)
			continue;
		/* a line with two action calls is one line */
		for (int k = 0; k < cov->nsites; k++) {
			if (k && cov->sites[k].line == cov->sites[k - 1].line)
				continue;
			lines++;
			reached += cov->reached[cov->sites[k].line];
		}
		if (!lines) {
			fprintf(out, "%s: no action lines\n", cov->path);
			continue;
		}
		fprintf(out, "%s: %d of %d action lines reached", cov->path, reached, lines);
		const char *sep = "; not reached: ";
		for (int k = 0; k < cov->nsites; k++) {
			const struct site *s = &cov->sites[k];
			if (cov->reached[s->line] || (k && s->line == cov->sites[k - 1].line))
				continue;
			fprintf(out, "%s%s:%d %s", sep, cov->path, s->line, s->what);
			sep = ", ";
		}
		fputc('\n', out);
	}
	fflush(out);
	return t->bad_files ? 2 : t->failed || t->broken ? 1 : 0;
}

void ptest_free(struct ptest *t)
{
	if (!t)
		return;
	rmdir(t->dir);
	free(t->dir);
	for (int i = 0; i < t->ncov; i++) {
		free(t->cov[i].path);
		free(t->cov[i].real);
		free(t->cov[i].sites);
		free(t->cov[i].reached);
	}
	free(t->cov);
	free(t);
}
