/*
 * policy.c — loading a policy and calling it for a pupil.
 *
 * A policy's state is built once at load (sandbox.c) and reused for every
 * pupil; nothing of one pupil survives into the next because `p` is a fresh
 * userdata whose link to the engine is cut when on_pupil returns. Actions
 * and helpers are C closures whose upvalue is the struct policy.
 */
#include "policy.h"

#include "date.h"
#include "log.h"
#include "luajson.h"
#include "lualex.h"
#include "upn.h"
#include "util.h"

#include <lauxlib.h>
#include <math.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const policy_roles[POLICY_ROLES] = { "alert", "referral", "legal", "case", "signoff" };

#define PUPIL_META     "rollcall.pupil"
#define SEEN_MAX       8    /* windows kept as default evidence */
#define LOGS_PER_BATCH 100  /* log() lines per policy per batch */
#define LOG_BYTES_MAX  1000 /* of one log() line */

/* What C does for a policy, charged to its instruction budget: reading
 * the case from the database costs about what 2,000 instructions do; a
 * window, a step per session or day it spans. */
#define COST_CASE_QUERY 2000

struct pupil_ud;

struct policy_run {
	struct policy *policy;
	struct pupil_view *view;
	struct actions *actions;
	struct actions_draft *draft;
	int today;
	int nactions; /* decided in this call */
	int streaks_done, absent_days, unauthorised_days;
	int nseen;
	struct {
		struct window w;
		struct figures f;
	} seen[SEEN_MAX];
	int db_failed;
	int line;	     /* of the action being called (calling_line) */
	struct pupil_ud *ud; /* the pupil, once made */
};

struct pupil_ud {
	struct policy_run *run; /* NULL once on_pupil has returned */
};

static struct policy *policy_up(lua_State *L)
{
	return lua_touserdata(L, lua_upvalueindex(1));
}

/* The run a pupil argument belongs to; raises if p is not this call's pupil. */
static struct policy_run *check_pupil(lua_State *L, int idx)
{
	struct pupil_ud *ud = luaL_checkudata(L, idx, PUPIL_META);
	if (!ud->run)
		luaL_error(L, "a pupil can only be used during the on_pupil call it was given to");
	return ud->run;
}

/* The line of p's file the running action was called from (a module
 * function called from it is looked through, up to the policy's own
 * frame); 0 if none is found. Recorded with the action (actions.line), and
 * for `rollcall test`'s coverage. */
static int calling_line(lua_State *L, const struct policy *p)
{
	lua_Debug ar;
	for (int level = 1; lua_getstack(L, level, &ar); level++) {
		if (!lua_getinfo(L, "Sl", &ar) || ar.source[0] != '@' ||
		    strcmp(ar.source + 1, p->path) != 0)
			continue;
		return ar.currentline > 0 ? ar.currentline : 0;
	}
	return 0;
}

/* The run an action is called in (alert, refer_mentor, legal_step,
 * close_case). */
static struct policy_run *current_run(lua_State *L, const char *fn)
{
	struct policy *p = policy_up(L);
	if (!p->run)
		luaL_error(L, "%s() can only be called from on_pupil", fn);
	p->run->line = calling_line(L, p);
	/* off (NULL) but under `rollcall test` */
	if (p->reached && p->run->line > 0 && p->run->line < p->nreached)
		p->reached[p->run->line] = 1;
	return p->run;
}

int policy_org_valid(const char *org)
{
	if (strncmp(org, "la:", 3) == 0)
		return la_code_valid(org + 3, (int)strlen(org + 3));
	if (strncmp(org, "trust:", 6) == 0)
		return trust_id_valid(org + 6, (int)strlen(org + 6));
	return 0;
}

const char *policy_param_refuses(const struct param *q, double v)
{
	if (!isfinite(v))
		return "not a number";
	if (v < q->min || v > q->max)
		return "outside the bounds";
	if (q->integer && v != floor(v))
		return "not a whole number";
	return NULL;
}

int policy_param(const struct policy *p, const char *name)
{
	for (int i = 0; i < p->nparams; i++)
		if (strcmp(p->params[i].name, name) == 0)
			return i;
	return -1;
}

/* Levenshtein distance of a and b (each cut at 64 bytes), two rows. */
static int edit_distance(const char *a, const char *b)
{
	int n = (int)strnlen(a, 64), m = (int)strnlen(b, 64);
	int row[65], prev[65];
	for (int j = 0; j <= m; j++)
		prev[j] = j;
	for (int i = 1; i <= n; i++) {
		row[0] = i;
		for (int j = 1; j <= m; j++) {
			int sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
			int del = prev[j] + 1, ins = row[j - 1] + 1;
			row[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
		}
		memcpy(prev, row, sizeof row);
	}
	return prev[m];
}

const char *policy_near_miss(const char *word, const char *const *names, int n)
{
	const char *best = NULL;
	int best_distance = 3;
	size_t best_prefix = 0, len = strlen(word);
	for (int i = 0; i < n; i++) {
		int d = edit_distance(word, names[i]);
		if (d < best_distance && strcmp(word, names[i]) != 0) {
			best = names[i];
			best_distance = d;
		}
	}
	if (best)
		return best;
	/* a name cut short or ended wrongly (consecutive_absence): most of
	 * what was written begins one name */
	for (int i = 0; i < n; i++) {
		size_t k = 0;
		while (word[k] && word[k] == names[i][k])
			k++;
		if (k >= 8 && 5 * k >= 4 * len && k > best_prefix) {
			best = names[i];
			best_prefix = k;
		}
	}
	return best;
}

/* ---- policy{...}: the declaration ---- */

static const char *opt_string(lua_State *L, int t, const char *key, int required)
{
	lua_getfield(L, t, key);
	const char *s = NULL;
	if (lua_type(L, -1) == LUA_TSTRING)
		s = lua_tostring(L, -1);
	else if (!lua_isnil(L, -1) || required)
		luaL_error(L, "policy{}: %s must be a string", key);
	lua_pop(L, 1); /* the string stays alive in the declaration table */
	return s;
}

static double num_field(lua_State *L, int t, const char *param, const char *key)
{
	lua_getfield(L, t, key);
	if (lua_type(L, -1) != LUA_TNUMBER)
		luaL_error(L, "policy{}: params.%s.%s must be a number", param, key);
	double v = lua_tonumber(L, -1);
	lua_pop(L, 1);
	if (!isfinite(v))
		luaL_error(L, "policy{}: params.%s.%s must be finite", param, key);
	return v;
}

/* Every key of table t must be one of names (NULL-terminated). */
static void only_keys(lua_State *L, int t, const char *const *names, const char *where)
{
	lua_pushnil(L);
	while (lua_next(L, t)) {
		lua_pop(L, 1);
		int ok = 0;
		if (lua_type(L, -1) == LUA_TSTRING)
			for (int i = 0; names[i]; i++)
				ok |= strcmp(lua_tostring(L, -1), names[i]) == 0;
		if (!ok)
			luaL_error(L, "%s: unknown key '%s'", where, luaL_tolstring(L, -1, NULL));
	}
}

static int valid_name(const char *s, size_t max)
{
	size_t n = strlen(s);
	if (n == 0 || n > max || !((s[0] >= 'a' && s[0] <= 'z') || s[0] == '_'))
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_'))
			return 0;
	return 1;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct param *)a)->name, ((const struct param *)b)->name);
}

static void declare_params(lua_State *L, struct policy *p, int t)
{
	static const char *const keys[] = { "default", "min", "max", "doc", "integer", NULL };
	lua_getfield(L, t, "params");
	if (lua_isnil(L, -1)) {
		lua_pop(L, 1);
		return;
	}
	if (!lua_istable(L, -1))
		luaL_error(L,
			   "policy{}: params must be a table of name = {default, min, max, doc}");
	int params = lua_gettop(L);
	int n = 0;
	lua_pushnil(L);
	while (lua_next(L, params)) {
		lua_pop(L, 1);
		n++;
	}
	p->params = xcalloc((size_t)n + 1, sizeof *p->params);
	lua_pushnil(L);
	while (lua_next(L, params)) {
		if (lua_type(L, -2) != LUA_TSTRING || !valid_name(lua_tostring(L, -2), 47))
			luaL_error(L, "policy{}: param names are lower-case letters, digits and _");
		const char *name = lua_tostring(L, -2);
		if (!lua_istable(L, -1))
			luaL_error(L, "policy{}: params.%s must be {default=, min=, max=, doc=}",
				   name);
		int d = lua_gettop(L);
		char where[80];
		snprintf(where, sizeof where, "policy{}: params.%s", name);
		only_keys(L, d, keys, where);
		struct param *q = &p->params[p->nparams++];
		snprintf(q->name, sizeof q->name, "%s", name);
		q->def = num_field(L, d, name, "default");
		q->min = num_field(L, d, name, "min");
		q->max = num_field(L, d, name, "max");
		lua_getfield(L, d, "doc");
		if (lua_type(L, -1) != LUA_TSTRING)
			luaL_error(L, "policy{}: params.%s.doc must say what the threshold does",
				   name);
		q->doc = xstrdup(lua_tostring(L, -1));
		lua_getfield(L, d, "integer");
		if (!lua_isnil(L, -1) && !lua_isboolean(L, -1))
			luaL_error(L, "policy{}: params.%s.integer must be true or false", name);
		q->integer = lua_toboolean(L, -1);
		lua_pop(L, 3);
		if (q->integer &&
		    (q->def != floor(q->def) || q->min != floor(q->min) || q->max != floor(q->max)))
			luaL_error(
				L,
				"policy{}: params.%s: integer = true, so default, min and max must "
				"be whole numbers",
				name);
		/* luaL_error has no %g: format the numbers first */
		char bounds[160];
		if (q->min > q->max) {
			snprintf(bounds, sizeof bounds, "min %g is above max %g", q->min, q->max);
			luaL_error(L, "policy{}: params.%s: %s", name, bounds);
		}
		if (q->def < q->min || q->def > q->max) {
			snprintf(bounds, sizeof bounds, "default %g is outside %g..%g", q->def,
				 q->min, q->max);
			luaL_error(L, "policy{}: params.%s: %s", name, bounds);
		}
		q->value = q->def;
	}
	/* Lua's table order is not stable across runs: list params by name */
	qsort(p->params, (size_t)p->nparams, sizeof *p->params, by_name);
	lua_pop(L, 1);
}

/* signoff = { letter = false, meeting = false, attendance_contract = false }:
 * the first rungs of the ladder a council may take without a person's
 * decision. The others always need one (UK GDPR art. 22: a decision with
 * legal effects is not taken solely by automated means). */
static void declare_signoff(lua_State *L, struct policy *p, int t)
{
	memset(p->signoff, 1, sizeof p->signoff);
	lua_getfield(L, t, "signoff");
	if (lua_isnil(L, -1)) {
		lua_pop(L, 1);
		return;
	}
	if (!lua_istable(L, -1))
		luaL_error(L, "policy{}: signoff must be a table of step = false, e.g. signoff = "
			      "{ letter = false }");
	int s = lua_gettop(L);
	lua_pushnil(L);
	while (lua_next(L, s)) {
		const char *step = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "?";
		int i = actions_legal_step(step);
		if (i < 0)
			luaL_error(L,
				   "policy{}: signoff.%s: not a legal step (letter, meeting, "
				   "attendance_contract may be decided without sign-off)",
				   step);
		if (!lua_isboolean(L, -1))
			luaL_error(L, "policy{}: signoff.%s must be true or false", step);
		if (!lua_toboolean(L, -1) && i >= LEGAL_SIGNOFF_ALWAYS)
			luaL_error(L,
				   "policy{}: signoff.%s = false: a %s always needs a named "
				   "person's decision (UK GDPR art. 22); only letter, meeting "
				   "and attendance_contract may be decided without one",
				   step, step);
		p->signoff[i] = (unsigned char)lua_toboolean(L, -1);
		lua_pop(L, 1);
	}
	lua_pop(L, 1);
}

static int api_policy(lua_State *L)
{
	static const char *const keys[] = { "org", "name", "endpoints", "params", "signoff", NULL };
	struct policy *p = policy_up(L);
	if (p->line)
		return luaL_error(L, "policy{} may be declared only once (first on line %d)",
				  p->line);
	luaL_checktype(L, 1, LUA_TTABLE);
	only_keys(L, 1, keys, "policy{}");
	lua_Debug ar;
	if (lua_getstack(L, 1, &ar) && lua_getinfo(L, "l", &ar))
		p->line = ar.currentline > 0 ? ar.currentline : 1;

	const char *org = opt_string(L, 1, "org", 1);
	if (!policy_org_valid(org) || strlen(org) >= sizeof p->org)
		return luaL_error(L,
				  "policy{}: org \"%s\" must be la:NNN (3 digits) or trust:ID "
				  "(1-16 letters or digits)",
				  org);
	snprintf(p->org, sizeof p->org, "%s", org);
	const char *name = opt_string(L, 1, "name", 1);
	if (!*name || !text_clean(name, (int)strlen(name)))
		return luaL_error(L, "policy{}: name must be non-empty text");
	p->name = xstrdup(name);

	lua_getfield(L, 1, "endpoints");
	if (!lua_isnil(L, -1)) {
		if (!lua_istable(L, -1))
			return luaL_error(L,
					  "policy{}: endpoints must be a table of role = endpoint");
		int t = lua_gettop(L);
		lua_pushnil(L);
		while (lua_next(L, t)) {
			const char *role =
				lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "?";
			int r = -1;
			for (int i = 0; i < POLICY_ROLES; i++)
				if (strcmp(role, policy_roles[i]) == 0)
					r = i;
			if (r < 0)
				return luaL_error(L,
						  "policy{}: unknown endpoint role '%s' (roles are "
						  "alert, referral, legal, case, signoff)",
						  role);
			if (lua_type(L, -1) != LUA_TSTRING || !*lua_tostring(L, -1))
				return luaL_error(L, "policy{}: endpoints.%s must name an endpoint",
						  role);
			free(p->endpoint[r]);
			p->endpoint[r] = xstrdup(lua_tostring(L, -1));
			lua_pop(L, 1);
		}
	}
	lua_pop(L, 1);
	declare_signoff(L, p, 1);
	declare_params(L, p, 1);
	return 0;
}

/* ---- the pupil ---- */

/* The keys of a window's table, made once per state as Lua strings (the
 * window function's upvalue): a key given as a C string is looked up in
 * Lua's string cache on every set, and windows are the hot path. */
enum {
	K_POSSIBLE = 1,
	K_PRESENT,
	K_AEA,
	K_AUTHORISED,
	K_UNAUTHORISED,
	K_LATE,
	K_NOT_COUNTED,
	K_RATE,
	K_ABSENCE_RATE,
	K_FROM,
	K_TO,
	K_CODES,
	K_CODE0 /* + a code's index: its text */
};

static const char *const figure_keys[] = {
	[K_POSSIBLE] = "possible",
	[K_PRESENT] = "present",
	[K_AEA] = "aea",
	[K_AUTHORISED] = "authorised",
	[K_UNAUTHORISED] = "unauthorised",
	[K_LATE] = "late",
	[K_NOT_COUNTED] = "not_counted",
	[K_RATE] = "rate",
	[K_ABSENCE_RATE] = "absence_rate",
	[K_FROM] = "from",
	[K_TO] = "to",
	[K_CODES] = "codes",
};

static const char *const window_kinds[] = { "sessions", "school_weeks", "days", "since",
					    "academic_year" };

static void push_window_keys(lua_State *L)
{
	lua_createtable(L, K_CODE0 + CODES_COUNT, 0);
	for (int k = K_POSSIBLE; k <= K_CODES; k++) {
		lua_pushstring(L, figure_keys[k]);
		lua_rawseti(L, -2, k);
	}
	for (int c = 1; c <= CODES_COUNT; c++) {
		lua_pushstring(L, codes_get(c)->text);
		lua_rawseti(L, -2, K_CODE0 + c);
	}
}

/* Push key k; its value goes on top, then lua_rawset(L, -3). */
static void push_key(lua_State *L, int k)
{
	lua_rawgeti(L, lua_upvalueindex(1), k);
}

static void push_figures(lua_State *L, const struct figures *f)
{
	char d[11];
	const int *counts[] = { &f->possible,	  &f->present, &f->aea,	       &f->authorised,
				&f->unauthorised, &f->late,    &f->not_counted };
	lua_createtable(L, 0, 12);
	for (int k = K_POSSIBLE; k <= K_NOT_COUNTED; k++) {
		push_key(L, k);
		lua_pushinteger(L, *counts[k - K_POSSIBLE]);
		lua_rawset(L, -3);
	}
	push_key(L, K_RATE);
	lua_pushnumber(L, f->rate);
	lua_rawset(L, -3);
	push_key(L, K_ABSENCE_RATE);
	lua_pushnumber(L, f->absence_rate);
	lua_rawset(L, -3);
	if (f->from >= 0) {
		push_key(L, K_FROM);
		lua_pushlstring(L, date_format(f->from, d), 10);
		lua_rawset(L, -3);
		push_key(L, K_TO);
		lua_pushlstring(L, date_format(f->to, d), 10);
		lua_rawset(L, -3);
	}
	int n = 0;
	for (int c = 1; c <= CODES_COUNT; c++)
		n += f->codes[c] != 0;
	push_key(L, K_CODES);
	lua_createtable(L, 0, n); /* sized: growing a table rehashes it */
	for (int c = 1; c <= CODES_COUNT && n; c++)
		if (f->codes[c]) {
			push_key(L, K_CODE0 + c);
			lua_pushinteger(L, f->codes[c]);
			lua_rawset(L, -3);
			n--;
		}
	lua_rawset(L, -3);
}

/* "school_weeks=6", "since=2024-09-02", "academic_year": a window's name
 * in default evidence. */
static void window_spec(const struct window *w, char *buf, size_t size)
{
	char d[11];
	if (w->kind == WINDOW_SINCE)
		snprintf(buf, size, "since=%s", date_format(w->since, d));
	else if (w->kind == WINDOW_ACADEMIC_YEAR)
		snprintf(buf, size, "academic_year");
	else
		snprintf(buf, size, "%s=%d", window_kinds[w->kind], w->n);
}

/* p:window{ sessions = N | school_weeks = N | days = N | since = DATE |
 * academic_year = true } */
static int pupil_window(lua_State *L)
{
	struct policy_run *run = check_pupil(L, 1);
	luaL_checktype(L, 2, LUA_TTABLE);
	struct window w = { 0 };
	int found = 0;
	lua_pushnil(L);
	while (lua_next(L, 2)) {
		int k = -1;
		for (int i = 0; i < 5 && lua_type(L, -2) == LUA_TSTRING; i++)
			if (strcmp(lua_tostring(L, -2), window_kinds[i]) == 0)
				k = i;
		if (k < 0) /* a copy of the key: lua_tolstring would change it in place */
			return luaL_error(L,
					  "p:window{}: unknown key '%s' (give one of sessions, "
					  "school_weeks, days, since or academic_year)",
					  luaL_tolstring(L, -2, NULL));
		if (found++)
			return luaL_error(L,
					  "p:window{}: give exactly one of sessions, school_weeks, "
					  "days, since or academic_year");
		w.kind = (enum window_kind)k;
		if (w.kind == WINDOW_SINCE) {
			size_t len = 0;
			const char *s =
				lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &len) : "";
			if ((w.since = date_parse(s, (int)strlen(s))) < 0)
				return luaL_error(
					L, "p:window{}: since must be a date \"YYYY-MM-DD\"");
		} else if (w.kind == WINDOW_ACADEMIC_YEAR) {
			if (lua_toboolean(L, -1) != 1 || lua_type(L, -1) != LUA_TBOOLEAN)
				return luaL_error(L, "p:window{}: academic_year must be true");
		} else {
			lua_Integer n = lua_isinteger(L, -1) ? lua_tointeger(L, -1) : 0;
			if (n < 1 || n > 100000)
				return luaL_error(L, "p:window{}: %s must be a whole number from 1",
						  window_kinds[k]);
			w.n = (int)n;
		}
		lua_pop(L, 1);
	}
	if (!found)
		return luaL_error(L,
				  "p:window{}: give one of sessions, school_weeks, days, since or "
				  "academic_year");
	/* The same window again in this call: the same table (upvalue 2 keeps
	 * this call's tables by their place in `seen`). */
	int i = 0;
	while (i < run->nseen && memcmp(&run->seen[i].w, &w, sizeof w) != 0)
		i++;
	if (i < run->nseen) {
		lua_rawgeti(L, lua_upvalueindex(2), i + 1);
		return 1;
	}
	struct figures f;
	sandbox_charge(L, "p:window",
		       w.kind == WINDOW_SINCE || w.kind == WINDOW_ACADEMIC_YEAR
			       ? run->view->h->nslots
			       : (double)w.n * (w.kind == WINDOW_SCHOOL_WEEKS ? 10 : 1));
	if (stats_window(run->view->h, &w, &f) < 0)
		return luaL_error(L, "p:window{}: cannot read the pupil's history");
	push_figures(L, &f);
	if (i < SEEN_MAX) {
		run->seen[i].w = w;
		run->seen[i].f = f;
		run->nseen++;
		lua_pushvalue(L, -1);
		lua_rawseti(L, lua_upvalueindex(2), i + 1);
	}
	return 1;
}

static void load_streaks(lua_State *L, struct policy_run *run)
{
	if (run->streaks_done)
		return;
	if (stats_consecutive(run->view->h, &run->absent_days, &run->unauthorised_days) < 0)
		luaL_error(L, "cannot read the pupil's history");
	run->streaks_done = 1;
}

static void push_case(lua_State *L, struct policy_run *run)
{
	struct pupil_case c;
	char d[11];
	if (!run->draft->case_loaded)
		sandbox_charge(L, "p.case", COST_CASE_QUERY);
	int rc = actions_case(run->actions, run->draft, run->policy->org, run->view->id, &c);
	if (rc < 0) {
		run->db_failed = 1;
		luaL_error(L, "cannot read the pupil's case");
	}
	if (rc == 0) {
		lua_pushnil(L);
		return;
	}
	lua_createtable(L, 0, 4);
	lua_pushstring(L, c.stage);
	lua_setfield(L, -2, "stage");
	lua_pushstring(L, date_format(c.opened, d));
	lua_setfield(L, -2, "opened");
	lua_pushboolean(L, c.referral_open);
	lua_setfield(L, -2, "referral_open");
	lua_createtable(L, c.nsteps, 0);
	for (int i = 0; i < c.nsteps; i++) {
		lua_createtable(L, 0, 2);
		lua_pushstring(L, c.steps[i].step);
		lua_setfield(L, -2, "step");
		lua_pushstring(L, date_format(c.steps[i].date, d));
		lua_setfield(L, -2, "date");
		lua_rawseti(L, -2, i + 1);
	}
	lua_setfield(L, -2, "steps");
}

#define ACTIONS_LISTED 100 /* the newest, at most, p:actions{} gives */

static void push_listed(lua_State *L, const struct listed *l, int i)
{
	char d[11];
	lua_createtable(L, 0, 7);
	if (l->action_id) {
		lua_pushinteger(L, l->action_id);
		lua_setfield(L, -2, "action_id");
	}
	lua_pushstring(L, l->action);
	lua_setfield(L, -2, "action");
	lua_pushstring(L, l->kind);
	lua_setfield(L, -2, strcmp(l->action, "legal_step") ? "kind" : "step");
	lua_pushstring(L, date_format(l->day, d));
	lua_setfield(L, -2, "date");
	if (l->case_id) {
		lua_pushinteger(L, l->case_id);
		lua_setfield(L, -2, "case_id");
	}
	lua_pushstring(L, l->state);
	lua_setfield(L, -2, "state");
	lua_rawseti(L, -2, i);
}

/* p:actions{ since = DATE | days = N, action = ..., kind = ... }: this
 * organisation's actions for the pupil, open case or closed, newest
 * first, those decided earlier in this call first of all (no action_id
 * yet). */
static int pupil_actions(lua_State *L)
{
	static const char *const keys[] = { "since", "days", "action", "kind", NULL };
	struct policy_run *run = check_pupil(L, 1);
	int since = 0;
	const char *action = NULL, *kind = NULL;
	if (!lua_isnoneornil(L, 2)) {
		luaL_checktype(L, 2, LUA_TTABLE);
		only_keys(L, 2, keys, "p:actions{}");
		lua_getfield(L, 2, "since");
		lua_getfield(L, 2, "days");
		if (!lua_isnil(L, -2) && !lua_isnil(L, -1))
			return luaL_error(L, "p:actions{}: give since or days, not both");
		if (!lua_isnil(L, -2)) {
			const char *s = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "";
			if ((since = date_parse(s, (int)strlen(s))) < 0)
				return luaL_error(
					L, "p:actions{}: since must be a date \"YYYY-MM-DD\"");
		}
		if (!lua_isnil(L, -1)) {
			lua_Integer n = lua_isinteger(L, -1) ? lua_tointeger(L, -1) : 0;
			if (n < 1 || n > 100000)
				return luaL_error(
					L, "p:actions{}: days must be a whole number from 1");
			since = run->today - (int)n + 1; /* the n days ending today */
		}
		lua_getfield(L, 2, "action");
		if (!lua_isnil(L, -1)) {
			static const char *const actions[] = { "alert", "referral", "legal_step",
							       "case_closed", NULL };
			action = actions[luaL_checkoption(L, -1, NULL, actions)];
		}
		lua_getfield(L, 2, "kind");
		if (!lua_isnil(L, -1))
			kind = luaL_checkstring(L, -1);
	}
	sandbox_charge(L, "p:actions", COST_CASE_QUERY + 10 * ACTIONS_LISTED);
	/* kind and action point into Lua strings on the stack: alive until we return */
	struct listed *l = lua_newuserdatauv(L, ACTIONS_LISTED * sizeof *l, 0);
	int n = actions_list(run->actions, run->draft, run->policy->org, run->view->id, since,
			     action, kind, l, ACTIONS_LISTED);
	if (n < 0) {
		run->db_failed = 1;
		return luaL_error(L, "p:actions{}: cannot read the pupil's actions");
	}
	lua_createtable(L, n, 0);
	for (int i = 0; i < n; i++)
		push_listed(L, &l[i], i + 1);
	return 1;
}

/* The pupil's fields: __index's upvalue maps each name to its place here,
 * one hash lookup of the interned key instead of a string compare each. */
enum pupil_field {
	F_UPN = 1,
	F_URN,
	F_LA_CODE,
	F_TRUST_ID,
	F_YEAR_GROUP,
	F_YEAR,
	F_SOCIAL_WORKER,
	F_FSM,
	F_SEN,
	F_WINDOW,
	F_CONSECUTIVE_ABSENT,
	F_CONSECUTIVE_UNAUTHORISED,
	F_LAST,
	F_CASE,
	F_ACTIONS,
	F_COUNT
};

static const char *const pupil_fields[F_COUNT] = {
	[F_UPN] = "upn",
	[F_URN] = "urn",
	[F_LA_CODE] = "la_code",
	[F_TRUST_ID] = "trust_id",
	[F_YEAR_GROUP] = "year_group",
	[F_YEAR] = "year",
	[F_SOCIAL_WORKER] = "social_worker",
	[F_FSM] = "fsm",
	[F_SEN] = "sen",
	[F_WINDOW] = "window",
	[F_CONSECUTIVE_ABSENT] = "consecutive_absent_days",
	[F_CONSECUTIVE_UNAUTHORISED] = "consecutive_unauthorised_days",
	[F_LAST] = "last",
	[F_CASE] = "case",
	[F_ACTIONS] = "actions",
};

/* The Lua type of each field as p gives it (nil aside: trust_id at an LA
 * school, year for X, case with none open, last with no marks). */
static const char *const pupil_field_types[F_COUNT] = {
	[F_UPN] = "string",
	[F_URN] = "string",
	[F_LA_CODE] = "string",
	[F_TRUST_ID] = "string",
	[F_YEAR_GROUP] = "string",
	[F_YEAR] = "number",
	[F_SOCIAL_WORKER] = "boolean",
	[F_FSM] = "boolean",
	[F_SEN] = "string",
	[F_WINDOW] = "function",
	[F_CONSECUTIVE_ABSENT] = "number",
	[F_CONSECUTIVE_UNAUTHORISED] = "number",
	[F_LAST] = "table",
	[F_CASE] = "table",
	[F_ACTIONS] = "function",
};

const char *policy_field_type(const char *field, size_t len)
{
	for (int f = 1; f < F_COUNT; f++)
		if (strlen(pupil_fields[f]) == len && !memcmp(pupil_fields[f], field, len))
			return pupil_field_types[f];
	return NULL;
}

static void push_pupil_fields(lua_State *L)
{
	lua_createtable(L, 0, F_COUNT);
	for (int f = 1; f < F_COUNT; f++) {
		lua_pushinteger(L, f);
		lua_setfield(L, -2, pupil_fields[f]);
	}
}

/* __index: only ever called with a pupil (its metatable is out of reach) */
static int pupil_index(lua_State *L)
{
	struct pupil_ud *ud = lua_touserdata(L, 1);
	if (!ud->run)
		return luaL_error(
			L, "a pupil can only be used during the on_pupil call it was given to");
	struct policy_run *run = ud->run;
	const struct pupil_view *v = run->view;
	char d[11];
	lua_pushvalue(L, 2);
	int field =
		lua_rawget(L, lua_upvalueindex(1)) == LUA_TNUMBER ? (int)lua_tointeger(L, -1) : 0;
	lua_pop(L, 1);
	switch (field) {
	case F_UPN: lua_pushstring(L, v->upn); break;
	case F_URN:
		snprintf(d, sizeof d, "%06d", v->urn);
		lua_pushstring(L, d);
		break;
	case F_LA_CODE: lua_pushstring(L, v->la_code); break;
	case F_TRUST_ID:
		if (v->trust_id)
			lua_pushstring(L, v->trust_id);
		else
			lua_pushnil(L);
		break;
	case F_YEAR_GROUP: lua_pushstring(L, v->year_group); break;
	case F_YEAR: {
		int year;
		if (year_group_year(v->year_group, &year))
			lua_pushinteger(L, year);
		else
			lua_pushnil(L);
		break;
	}
	case F_SOCIAL_WORKER: lua_pushboolean(L, v->social_worker); break;
	case F_FSM: lua_pushboolean(L, v->fsm); break;
	case F_SEN: lua_pushlstring(L, &v->sen, 1); break;
	case F_WINDOW: lua_rawgeti(L, LUA_REGISTRYINDEX, run->policy->window); break;
	case F_CONSECUTIVE_ABSENT:
	case F_CONSECUTIVE_UNAUTHORISED:
		load_streaks(L, run);
		lua_pushinteger(L, field == F_CONSECUTIVE_ABSENT ? run->absent_days
								 : run->unauthorised_days);
		break;
	case F_LAST: {
		int day, session, code;
		if (!stats_latest(v->h, &day, &session, &code)) {
			lua_pushnil(L);
			break;
		}
		lua_createtable(L, 0, 3);
		lua_pushstring(L, date_format(day, d));
		lua_setfield(L, -2, "date");
		lua_pushstring(L, session ? "PM" : "AM");
		lua_setfield(L, -2, "session");
		lua_pushstring(L, codes_get(code)->text);
		lua_setfield(L, -2, "code");
		break;
	}
	case F_CASE: push_case(L, run); break;
	case F_ACTIONS: lua_pushcfunction(L, pupil_actions); break;
	default: {
		const char *name = luaL_checkstring(L, 2);
		const char *near = policy_near_miss(name, pupil_fields + 1, F_COUNT - 1);
		return luaL_error(L, "the pupil has no field '%s'%s%s%s", name,
				  near ? " (did you mean '" : "", near ? near : "",
				  near ? "'?)" : "");
	}
	}
	return 1;
}

static int pupil_newindex(lua_State *L)
{
	return luaL_error(L, "the pupil is read-only");
}

static int pupil_tostring(lua_State *L)
{
	struct pupil_ud *ud = luaL_checkudata(L, 1, PUPIL_META);
	lua_pushfstring(L, "pupil %s", ud->run ? ud->run->view->upn : "(gone)");
	return 1;
}

/* ---- actions ---- */

static const char *const severities[] = { "low", "medium", "high", "urgent", NULL };

/* A message or reason is text a caseworker reads: UTF-8, no control
 * characters but newlines and tabs, at most POLICY_TEXT_BYTES. */
static void check_text(lua_State *L, const char *fn, const char *what, int idx)
{
	size_t len;
	const char *s = lua_tolstring(L, idx, &len);
	if (!s)
		return; /* none given */
	if (len > POLICY_TEXT_BYTES)
		luaL_error(L, "%s: %s longer than %d bytes", fn, what, POLICY_TEXT_BYTES);
	for (size_t i = 0, start = 0; i <= len; i++)
		if (i == len || s[i] == '\n' || s[i] == '\t') {
			if (!text_clean(s + start, (int)(i - start)))
				luaL_error(L,
					   "%s: %s must be UTF-8 text without control characters",
					   fn, what);
			start = i + 1;
		}
}

/* Distinct alert kinds a policy may record in one evaluated day, kept as
 * 64-bit hashes for the latest POLICY_KINDS_DAYS days it has met (an
 * older one takes the place of the oldest). The policy's own thread calls
 * this (engine.c), so its state needs no lock. With add, kind is counted
 * (it was recorded); without, only asked about. Returns 0 if it would be
 * one kind too many. */
static int kind_allowed(struct policy *p, const char *kind, int today, int add)
{
	uint64_t h = 14695981039346656037u; /* FNV-1a */
	for (const char *c = kind; *c; c++)
		h = (h ^ (uint8_t)*c) * 1099511628211u;
	struct kinds_day *d = NULL, *oldest = &p->kinds[0];
	for (int i = 0; i < POLICY_KINDS_DAYS && !d; i++) {
		if (p->kinds[i].day == today && p->kinds[i].n)
			d = &p->kinds[i];
		else if (!p->kinds[i].n || (oldest->n && p->kinds[i].day < oldest->day))
			oldest = &p->kinds[i];
	}
	if (!d) {
		if (!add)
			return 1; /* a day with no kind yet */
		d = oldest;
		d->day = today;
		d->n = 0;
	}
	for (int i = 0; i < d->n; i++)
		if (d->kind[i] == h)
			return 1;
	if (d->n == POLICY_KINDS_PER_DAY)
		return 0;
	if (add)
		d->kind[d->n++] = h;
	return 1;
}

/* The parameter values in force, as the JSON object every action keeps
 * ({name: value}, a value declared integer as an integer), made again
 * only when engine.c has set other values since: most batches change
 * none. */
static const char *params_in_force(struct policy *p)
{
	int same = p->params_json != NULL;
	for (int i = 0; same && i < p->nparams; i++)
		same = p->params_json_of[i] == p->params[i].value;
	if (same)
		return p->params_json;
	json_t *o = json_object();
	if (!p->params_json_of)
		p->params_json_of = xcalloc((size_t)p->nparams + 1, sizeof *p->params_json_of);
	for (int i = 0; i < p->nparams; i++) {
		const struct param *q = &p->params[i];
		json_object_set_new(o, q->name,
				    q->integer ? json_integer((json_int_t)q->value)
					       : json_real(q->value));
		p->params_json_of[i] = q->value;
	}
	free(p->params_json);
	/* 15 significant digits: a value a person typed (0.92) is written as
	 * typed, not as the nearest double's 17 digits (0.92000000000000004),
	 * and reads back as the same double. */
	p->params_json = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(15));
	json_decref(o);
	return p->params_json;
}

/* What every action of this call has in common. */
static struct action_request request_for(struct policy_run *run, enum action_type type,
					 const char *kind)
{
	struct policy *p = run->policy;
	const char *endpoint = p->endpoint[type]; /* roles are in action order */
	const char *signoff = p->endpoint[POLICY_ROLE_SIGNOFF];
	int step = type == ACTION_LEGAL_STEP ? actions_legal_step(kind) : -1;
	if (type == ACTION_CASE_CLOSED && !endpoint)
		endpoint = p->endpoint[ACTION_LEGAL_STEP];
	return (struct action_request){
		.signoff = step >= 0 && p->signoff[step],
		.signoff_endpoint = signoff ? signoff : p->endpoint[ACTION_LEGAL_STEP],
		.org = p->org,
		.policy = p->file,
		.policy_sha256 = p->sha256,
		.line = run->line,
		.pupil = run->view->id,
		.upn = run->view->upn,
		.urn = run->view->urn,
		.year_group = run->view->year_group,
		.endpoint = endpoint,
		.type = type,
		.kind = kind,
		.params = params_in_force(p),
		.date = run->today,
		.history = run->view->h,
	};
}

/* Build the request from opts (at index idx, may be nil) and record it. */
static int act(lua_State *L, enum action_type type, const char *kind, int idx)
{
	static const char *const keys[] = { "severity",
					    "message",
					    "reason",
					    "evidence",
					    "data",
					    "cooldown_days",
					    "support_inappropriate",
					    NULL };
	struct policy_run *run = check_pupil(L, 1);
	struct policy *p = run->policy;
	struct action_request r = request_for(run, type, kind);
	r.severity = "medium";
	r.cooldown_days = COOLDOWN_DEFAULT;
	json_t *evidence = NULL, *data = NULL;
	char why[256];

	if (!lua_isnoneornil(L, idx)) {
		luaL_checktype(L, idx, LUA_TTABLE);
		only_keys(L, idx, keys, action_names[type]);
		lua_getfield(L, idx, "severity");
		if (!lua_isnil(L, -1))
			r.severity = severities[luaL_checkoption(L, -1, NULL, severities)];
		lua_getfield(L, idx, "message");
		lua_getfield(L, idx, "reason");
		for (int i = -2; i <= -1; i++)
			if (!lua_isnil(L, i) && lua_type(L, i) != LUA_TSTRING)
				return luaL_error(L, "%s: message and reason must be strings",
						  action_names[type]);
		r.message = lua_tostring(L, -2) ? lua_tostring(L, -2) : lua_tostring(L, -1);
		check_text(L, action_names[type], "message", lua_isnil(L, -2) ? -1 : -2);
		lua_getfield(L, idx, "cooldown_days");
		if (!lua_isnil(L, -1)) {
			if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 0 ||
			    lua_tointeger(L, -1) > 3650)
				return luaL_error(L,
						  "%s: cooldown_days must be a whole number 0-3650",
						  action_names[type]);
			r.cooldown_days = (int)lua_tointeger(L, -1);
		}
		lua_getfield(L, idx, "support_inappropriate");
		if (!lua_isnil(L, -1) && type != ACTION_LEGAL_STEP)
			return luaL_error(L, "%s: support_inappropriate is for legal steps",
					  action_names[type]);
		/* It lets a penalty notice skip the Notice to Improve: only a real
		 * true may do that (0 and "no" are true to Lua). */
		if (!lua_isnil(L, -1) && !lua_isboolean(L, -1))
			return luaL_error(L,
					  "%s: support_inappropriate must be true or false, not %s",
					  action_names[type], luaL_typename(L, -1));
		r.support_inappropriate = lua_toboolean(L, -1);
	}
	/* Bounds on what one call may record (docs/POLICIES.md): each action
	 * is a row and a webhook, and distinct alert kinds escape the cooldown. */
	if (run->nactions >= POLICY_ACTIONS_PER_CALL)
		return luaL_error(L, "%s: more than %d actions in one call", action_names[type],
				  POLICY_ACTIONS_PER_CALL);
	if (type == ACTION_ALERT && !kind_allowed(p, kind, run->today, 0))
		return luaL_error(L,
				  "alert: more than %d distinct alert kinds in one day ('%s' would "
				  "be one more)",
				  POLICY_KINDS_PER_DAY, kind);
	sandbox_charge(L, action_names[type], COST_CASE_QUERY);
	/* Most calls repeat an action still in its cooldown: ask before the
	 * evidence is encoded, which is most of an action's cost, and once:
	 * actions_decide is told it was asked (the draft does not change in
	 * between). */
	int repeat = actions_repeat(run->actions, run->draft, &r);
	if (repeat) {
		run->db_failed = repeat < 0;
		if (repeat < 0)
			return luaL_error(L, "%s: database error", action_names[type]);
		lua_pushboolean(L, 0);
		return 1;
	}
	r.repeat_checked = 1;
	if (!lua_isnoneornil(L, idx)) {
		/* Fetch both before encoding: nothing may raise while C holds JSON. */
		lua_getfield(L, idx, "evidence");
		lua_getfield(L, idx, "data");
		if (!lua_isnil(L, -2) && !(evidence = luajson_encode(L, -2, why, sizeof why)))
			return luaL_error(L, "%s: evidence: %s", action_names[type], why);
		if (!lua_isnil(L, -1) && !(data = luajson_encode(L, -1, why, sizeof why))) {
			json_decref(evidence);
			return luaL_error(L, "%s: data: %s", action_names[type], why);
		}
	}
	if (!evidence) { /* by default, the windows the policy read, and the streaks */
		evidence = json_object();
		for (int i = 0; i < run->nseen; i++) {
			char spec[40];
			window_spec(&run->seen[i].w, spec, sizeof spec);
			json_object_set_new(evidence, spec, stats_figures_json(&run->seen[i].f));
		}
		if (run->streaks_done) {
			json_object_set_new(evidence, "consecutive_absent_days",
					    json_integer(run->absent_days));
			json_object_set_new(evidence, "consecutive_unauthorised_days",
					    json_integer(run->unauthorised_days));
		}
	}
	char *evidence_text = json_dumps(evidence, JSON_COMPACT | JSON_SORT_KEYS);
	char *data_text = data ? json_dumps(data, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(evidence);
	json_decref(data);
	size_t evidence_bytes = evidence_text ? strlen(evidence_text) : 0;
	size_t data_bytes = data_text ? strlen(data_text) : 0;
	if (evidence_bytes > POLICY_JSON_BYTES || data_bytes > POLICY_JSON_BYTES) {
		free(evidence_text);
		free(data_text);
		return luaL_error(L, "%s: %s is over %d bytes of JSON", action_names[type],
				  evidence_bytes > POLICY_JSON_BYTES ? "evidence" : "data",
				  POLICY_JSON_BYTES);
	}
	r.evidence = evidence_text;
	r.data = data_text;
	int rc = actions_decide(run->actions, run->draft, &r, why, sizeof why);
	if (rc < 0) {
		run->db_failed = 1;
		return luaL_error(L, "%s: could not be recorded (database error)",
				  action_names[type]);
	}
	if (rc == 0 && why[0])
		log_event(LOG_INFO, "action refused", "org", p->org, "file", p->path, "action",
			  action_names[type], "kind", kind, "pupil", run->view->upn, "why", why,
			  NULL);
	run->nactions += rc == 1;
	if (rc == 1 && type == ACTION_ALERT)
		kind_allowed(p, kind, run->today, 1);
	lua_pushboolean(L, rc == 1);
	return 1;
}

static int valid_kind(const char *s)
{
	return valid_name(s, 64);
}

static int api_alert(lua_State *L)
{
	current_run(L, "alert");
	const char *kind = luaL_checkstring(L, 2);
	if (!valid_kind(kind))
		return luaL_error(L, "alert: kind '%s' must be lower-case letters, digits and _",
				  kind);
	return act(L, ACTION_ALERT, kind, 3);
}

static int api_refer_mentor(lua_State *L)
{
	current_run(L, "refer_mentor");
	return act(L, ACTION_REFERRAL, "mentor", 2);
}

static int api_legal_step(lua_State *L)
{
	current_run(L, "legal_step");
	const char *step = luaL_checkstring(L, 2);
	if (actions_legal_step(step) < 0)
		return luaL_error(L,
				  "legal_step: '%s' is not a step (letter, meeting, "
				  "attendance_contract, notice_to_improve, penalty_notice, "
				  "education_supervision_order, school_attendance_order, "
				  "prosecution)",
				  step);
	return act(L, ACTION_LEGAL_STEP, legal_steps[actions_legal_step(step)], 3);
}

/* A closure is an action (case_closed), delivered to the policy's case
 * endpoint, else its legal one; never suppressed as a repeat. */
static int api_close_case(lua_State *L)
{
	struct policy_run *run = current_run(L, "close_case");
	check_pupil(L, 1);
	const char *reason = NULL;
	if (!lua_isnoneornil(L, 2)) {
		luaL_checktype(L, 2, LUA_TSTRING);
		check_text(L, "close_case", "reason", 2);
		reason = lua_tostring(L, 2);
	}
	if (run->nactions >= POLICY_ACTIONS_PER_CALL)
		return luaL_error(L, "close_case: more than %d actions in one call",
				  POLICY_ACTIONS_PER_CALL);
	sandbox_charge(L, "close_case", COST_CASE_QUERY);
	struct action_request r = request_for(run, ACTION_CASE_CLOSED, "");
	r.message = reason;
	char why[256];
	int rc = actions_decide(run->actions, run->draft, &r, why, sizeof why);
	if (rc < 0) {
		run->db_failed = 1;
		return luaL_error(L, "close_case: database error");
	}
	run->nactions += rc;
	lua_pushboolean(L, rc);
	return 1;
}

static int api_param(lua_State *L)
{
	struct policy *p = policy_up(L);
	const char *name = luaL_checkstring(L, 1);
	int i = policy_param(p, name);
	if (i < 0)
		return luaL_error(L, "param '%s' is not declared in policy{ params = ... }", name);
	if (p->params[i].integer)
		lua_pushinteger(L, (lua_Integer)p->params[i].value);
	else
		lua_pushnumber(L, p->params[i].value);
	return 1;
}

static int api_today(lua_State *L)
{
	char d[11];
	struct policy *p = policy_up(L);
	if (!p->run) /* not current_run: today() is no action, for coverage */
		return luaL_error(L, "today() can only be called from on_pupil");
	lua_pushstring(L, date_format(p->run->today, d));
	return 1;
}

/* log(...): its arguments as tostring() gives them, space-separated, cut
 * at LOG_BYTES_MAX; the log line escapes what is not text. Past
 * LOGS_PER_BATCH lines a batch, the rest are counted, not written. */
static int api_log(lua_State *L)
{
	struct policy *p = policy_up(L);
	int n = lua_gettop(L); /* the buffer below may take a stack slot */
	luaL_Buffer b;
	luaL_buffinit(L, &b);
	for (int i = 1; i <= n; i++) {
		if (i > 1)
			luaL_addchar(&b, ' ');
		size_t len;
		luaL_tolstring(L, i, &len);
		sandbox_charge(L, "log", 1 + (double)len / 64);
		luaL_addvalue(&b);
	}
	luaL_pushresult(&b);
	if (++p->logs > LOGS_PER_BATCH)
		return 0;
	size_t len;
	const char *text = lua_tolstring(L, -1, &len);
	/* every control character but NUL kept: the log line escapes them
	 * visibly (log.c); NUL, and bytes that are not UTF-8, become U+FFFD */
	static const char controls[] = "\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d"
				       "\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a"
				       "\x1b\x1c\x1d\x1e\x1f\x7f";
	char *safe = text_safe(text, len > LOG_BYTES_MAX ? LOG_BYTES_MAX : len, controls);
	log_event(LOG_INFO, "policy log", "org", p->org, "file", p->path, "text", safe,
		  len > LOG_BYTES_MAX ? "cut" : NULL, "yes", NULL);
	free(safe);
	return 0;
}

/* ---- loading ---- */

static void sha256_hex(const char *text, size_t len, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned n = 0;
	EVP_Digest(text, len, md, &n, EVP_sha256(), NULL);
	for (unsigned i = 0; i < n && i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* The first literal `param "x"` (or `param("x")`) in the text whose name
 * the policy does not declare: found by reading the text, so a misspelt
 * name fails the load even in a branch no pupil reaches. */
struct undeclared {
	const struct policy *p;
	int line;
	char name[64];
};

static int undeclared_param(const struct lua_call *c, void *arg)
{
	struct undeclared *u = arg;
	if (c->namelen != 5 || memcmp(c->name, "param", 5) != 0 || !c->literal)
		return 0;
	snprintf(u->name, sizeof u->name, "%.*s", (int)c->literallen, c->literal);
	if (c->literallen < sizeof u->name && policy_param(u->p, u->name) >= 0)
		return 0;
	u->line = c->line;
	return 1;
}

static int check_param_names(const struct policy *p, const char *text, size_t len, char *err,
			     size_t errlen)
{
	struct undeclared u = { .p = p };
	if (!lualex_calls(text, len, undeclared_param, &u))
		return 0;
	char declared[512] = "";
	const char **names = xcalloc((size_t)p->nparams + 1, sizeof *names);
	for (int i = 0; i < p->nparams; i++) {
		names[i] = p->params[i].name;
		size_t at = strlen(declared);
		snprintf(declared + at, sizeof declared - at, "%s%s", i ? ", " : "", names[i]);
	}
	const char *near = policy_near_miss(u.name, names, p->nparams);
	snprintf(err, errlen,
		 "%s:%d: param \"%s\" is not declared in policy{ params } (declared: %s)%s%s%s",
		 p->path, u.line, u.name, p->nparams ? declared : "none",
		 near ? "; did you mean \"" : "", near ? near : "", near ? "\"?" : "");
	free(names);
	return -1;
}

int policy_load_text(struct policy *p, const char *path, char *text, size_t len,
		     const char *scripts_dir, size_t memory_limit, long instruction_limit,
		     char *err, size_t errlen)
{
	static const luaL_Reg api[] = {
		{ "policy", api_policy },
		{ "alert", api_alert },
		{ "refer_mentor", api_refer_mentor },
		{ "legal_step", api_legal_step },
		{ "close_case", api_close_case },
		{ "param", api_param },
		{ "today", api_today },
		{ "log", api_log },
		{ NULL, NULL },
	};
	memset(p, 0, sizeof *p);
	p->on_pupil = LUA_NOREF;
	p->path = xstrdup(path);
	const char *slash = strrchr(path, '/');
	p->file = xstrdup(slash ? slash + 1 : path);
	sha256_hex(text, len, p->sha256);
	if (sandbox_open(&p->sb, scripts_dir, memory_limit, instruction_limit, err, errlen) < 0)
		goto fail;
	lua_State *L = p->sb.L;
	luaL_newmetatable(L, PUPIL_META);
	push_pupil_fields(L);
	lua_pushcclosure(L, pupil_index, 1);
	lua_setfield(L, -2, "__index");
	lua_pushcfunction(L, pupil_newindex);
	lua_setfield(L, -2, "__newindex");
	lua_pushcfunction(L, pupil_tostring);
	lua_setfield(L, -2, "__tostring");
	lua_pushliteral(L, "pupil");
	lua_setfield(L, -2, "__metatable"); /* getmetatable(p) cannot reach the C functions */
	lua_pop(L, 1);
	push_window_keys(L);
	lua_createtable(L, SEEN_MAX, 0);
	lua_pushvalue(L, -1);
	p->windows = luaL_ref(L, LUA_REGISTRYINDEX);
	lua_pushcclosure(L, pupil_window, 2);
	p->window = luaL_ref(L, LUA_REGISTRYINDEX);
	lua_pushglobaltable(L);
	lua_pushlightuserdata(L, p);
	luaL_setfuncs(L, api, 1);
	lua_pop(L, 1);
	/* math.random at the top level draws the same on every run: the seed
	 * is the first 64 bits of the file's SHA-256. */
	char first[17];
	memcpy(first, p->sha256, 16);
	first[16] = '\0';
	sandbox_seed(&p->sb, strtoull(first, NULL, 16));

	char chunk[4200];
	snprintf(chunk, sizeof chunk, "@%s", path);
	int rc = sandbox_run(&p->sb, chunk, text, len, err, errlen);
	if (rc < 0)
		goto fail;
	if (!p->line) {
		snprintf(err, errlen,
			 "%s:1: no policy{...} declaration (org, name, endpoints, params)", path);
		goto fail;
	}
	lua_pushglobaltable(L);
	lua_pushliteral(L, "on_pupil");
	lua_rawget(L, -2);
	if (!lua_isfunction(L, -1)) {
		snprintf(err, errlen, "%s:%d: the policy defines no function on_pupil(p)", path,
			 p->line);
		lua_pop(L, 2);
		goto fail;
	}
	if (check_param_names(p, text, len, err, errlen) < 0) {
		lua_pop(L, 2);
		goto fail;
	}
	p->text = text; /* for the engine to keep (versions.h) */
	p->text_len = len;
	text = NULL;
	p->on_pupil = luaL_ref(L, LUA_REGISTRYINDEX);
	lua_pop(L, 1);
	lua_pushboolean(L, 0); /* the slot that holds each call's pupil */
	p->pupil = luaL_ref(L, LUA_REGISTRYINDEX);
	if (sandbox_freeze(&p->sb, err, errlen) < 0)
		goto fail;
	return 0;
fail:
	free(text);
	policy_free(p);
	return -1;
}

int policy_load(struct policy *p, const char *path, const char *scripts_dir, size_t memory_limit,
		long instruction_limit, char *err, size_t errlen)
{
	size_t len;
	char *text = sandbox_read_file(path, POLICY_FILE_MAX, &len, err, errlen);
	if (!text) {
		memset(p, 0, sizeof *p);
		p->on_pupil = LUA_NOREF;
		return -1;
	}
	return policy_load_text(p, path, text, len, scripts_dir, memory_limit, instruction_limit,
				err, errlen);
}

void policy_free(struct policy *p)
{
	if (p->sb.L)
		sandbox_close(&p->sb);
	for (int i = 0; i < p->nparams; i++)
		free(p->params[i].doc);
	free(p->params);
	free(p->params_json);
	free(p->params_json_of);
	free(p->text);
	for (int i = 0; i < POLICY_ROLES; i++)
		free(p->endpoint[i]);
	free(p->name);
	free(p->path);
	free(p->file);
	memset(p, 0, sizeof *p);
}

/* ---- evaluation ---- */

static uint64_t seed_of(const struct policy *p, const char *upn, int day)
{
	uint64_t h = 14695981039346656037u; /* FNV-1a */
	for (const char *s = p->sha256; *s; s++)
		h = (h ^ (uint8_t)*s) * 1099511628211u;
	for (const char *s = upn; *s; s++)
		h = (h ^ (uint8_t)*s) * 1099511628211u;
	return (h ^ (uint64_t)day) * 1099511628211u;
}

/* The call itself, protected (sandbox_call): making the pupil may fail for
 * memory like anything else the policy does. Upvalue 1: the run. The pupil
 * is anchored in the registry at p->pupil until its link is cut. */
static int evaluate(lua_State *L)
{
	struct policy_run *run = lua_touserdata(L, 1);
	struct pupil_ud *ud = lua_newuserdatauv(L, sizeof *ud, 0);
	ud->run = run;
	luaL_setmetatable(L, PUPIL_META);
	lua_pushvalue(L, -1);
	lua_rawseti(L, LUA_REGISTRYINDEX, run->policy->pupil);
	run->ud = ud;
	lua_rawgeti(L, LUA_REGISTRYINDEX, run->policy->on_pupil);
	lua_insert(L, -2);
	lua_call(L, 1, 0);
	return 0;
}

int policy_evaluate(struct policy *p, struct pupil_view *v, struct actions *a,
		    struct actions_draft *draft, char *err, size_t errlen)
{
	int day, session, code;
	actions_draft_reset(draft);
	p->sb.last_stopped = 0; /* no call, no stop */
	if (!stats_latest(v->h, &day, &session, &code))
		return 0; /* no marks: nothing to judge */
	struct policy_run run = {
		.policy = p, .view = v, .actions = a, .draft = draft, .today = day
	};
	lua_State *L = p->sb.L;
	sandbox_seed(&p->sb, seed_of(p, v->upn, day));
	lua_pushcfunction(L, evaluate);
	lua_pushlightuserdata(L, &run);
	p->run = &run;
	int rc = sandbox_call(&p->sb, 1, 0, err, errlen);
	p->run = NULL;
	if (run.ud) {
		run.ud->run = NULL;    /* a pupil kept by the policy is dead from now on */
		lua_pushboolean(L, 0); /* replaces the anchor: no allocation */
		lua_rawseti(L, LUA_REGISTRYINDEX, p->pupil);
	}
	/* nothing of this pupil is kept for the next */
	lua_rawgeti(L, LUA_REGISTRYINDEX, p->windows);
	for (int i = 1; i <= run.nseen; i++) {
		lua_pushnil(L);
		lua_rawseti(L, -2, i);
	}
	lua_pop(L, 1);
	if (rc < 0 || run.db_failed)
		actions_draft_reset(draft); /* a call that fails records nothing */
	if (run.db_failed)
		return -2;
	return rc;
}
