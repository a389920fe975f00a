/*
 * cmd_check.c — `rollcall check [POLICY...]`: what can be known about a
 * policy before it is live. Each policy (default: all in the policies
 * directory) is loaded in the sandbox as `run` would load it, then:
 *
 *  - every call it makes on a module it required (national.persistent)
 *    must name something the module defines, read from the text, so a
 *    branch no pupil reaches is checked too (literal param names are
 *    checked at load, policy.c);
 *  - every endpoint it names must be one rollcall.conf configures;
 *  - on_pupil runs over the synthetic pupils (synthetic.c), each at many
 *    points of its history, and, when the database exists, over a sample
 *    of the stored pupils the policy covers, at their latest mark, with
 *    nothing recorded (the database is opened read-only and the actions
 *    go to TEMP copies, as for a replay).
 *
 * Each distinct error is reported once on stderr as FILE:LINE: message,
 * with the first pupil that met it and how many did. Files in the
 * directory whose names speak for no organisation are said to be not
 * loaded. Exit 0 only if every policy loads and passes; 2 if one does
 * not; 1 if the database cannot be read.
 */
#include "cmd.h"
#include "date.h"
#include "engine.h"
#include "log.h"
#include "lualex.h"
#include "synthetic.h"
#include "util.h"

#include <ctype.h>
#include <lauxlib.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define CHECK_STORED_MAX   500 /* stored pupils run per policy */
#define CHECK_STOPS_MAX	   3   /* calls stopped for a budget before a policy is given up */
#define CHECK_BINDINGS	   16  /* `local x = require "m"` a policy may have, checked */
#define CHECK_SLOW_SECONDS 1.0 /* a failed call this long: the policy is given up at once */

enum { SYNTHETIC, STORED };

/* One distinct error: the same text, however many pupils met it. */
struct found {
	char *text;	  /* "FILE:LINE: message", made safe to print */
	char *traceback;  /* of the first call that met it (printed with -v) */
	int pupils[2];	  /* synthetic and stored pupils that met it */
	uint32_t last[2]; /* the last pupil counted, of each kind */
	char upn[2][14];  /* the first of each kind */
	int day[2];	  /* the day it was evaluated on */
	char who[200];	  /* what the first synthetic one is */
};

struct check {
	struct cli *cli;
	struct policy *p;
	struct found *found;
	int nfound, cap;
	int stops;		   /* calls stopped for a budget */
	double slow;		   /* a failed call took this long: given up */
	const char *static_at[64]; /* "FILE:LINE:" of each error found in the text */
	int nstatic;
	const struct synthetic_pupil *sp; /* the synthetic pupil being run */
};

/* Advice for an undefined global a policy is likely to reach for. */
static const struct {
	const char *global, *advice;
} hints[] = {
	{ "print", "print is not available in a policy: log(...) writes to the engine's log" },
	{ "os", "os is not available in a policy: today() gives the evaluated date" },
	{ "io", "io is not available in a policy: it reads no files" },
};

static int located(const char *line, const char *at)
{
	size_t n = strlen(at);
	return strncmp(line, at, n) == 0 && line[n] == ':';
}

/* Lua shortens a long chunk name to "..." and its end: give it back
 * whole when it is the policy's, so that the place names the file. */
static void unshorten(const char *path, char *s, size_t size)
{
	if (strncmp(s, "...", 3) != 0)
		return;
	const char *colon = strchr(s + 3, ':');
	size_t n = colon ? (size_t)(colon - s - 3) : 0, len = strlen(path);
	if (!colon || n > len || strncmp(path + len - n, s + 3, n) != 0)
		return;
	char rest[1024];
	snprintf(rest, sizeof rest, "%s", colon);
	snprintf(s, size, "%s%s", path, rest);
}

/* Each Lua frame of a traceback ("\n\tFILE:LINE: in ..."), as "FILE:LINE",
 * in order; frames in C are skipped. Returns how many, at most max. */
static int frames(const char *path, const char *err, char out[][512], int max)
{
	const char *tb = strstr(err, "\nstack traceback:");
	int n = 0;
	for (const char *s = tb; s && n < max && (s = strstr(s, "\n\t")); s += 2) {
		const char *f = s + 2, *in = strstr(f, ": in ");
		const char *nl = strchr(f, '\n');
		if (!in || (nl && in > nl) || *f == '[' || *f == '(' || in - f >= 512)
			continue;
		snprintf(out[n], 512, "%.*s", (int)(in - f), f);
		unshorten(path, out[n++], 512);
	}
	return n;
}

/* The error's first line, as FILE:LINE: message: a message with no place
 * in it (a stop for a budget, error() with a level of 0) takes the first
 * Lua frame of the traceback; one raised in a module says where the
 * policy called it. A new string. */
static char *error_text(const struct policy *p, const char *err)
{
	char where[16][512], *text;
	int nf = frames(p->path, err, where, 16);
	size_t len = strcspn(err, "\n");
	char first[1024];
	snprintf(first, sizeof first, "%.*s", (int)(len < 1000 ? len : 1000), err);
	unshorten(p->path, first, sizeof first);
	int at = -1;
	for (int i = 0; i < nf && at < 0; i++)
		if (located(first, where[i]))
			at = i;
	char place[600] = "";
	if (at < 0 &&
	    !(located(first, p->path) && isdigit((unsigned char)first[strlen(p->path) + 1])))
		snprintf(place, sizeof place, "%.500s: ", nf ? where[0] : p->path);
	/* raised in a module: the policy's line that led there */
	char from[600] = "";
	int in_policy = at >= 0		   ? located(where[at], p->path)
			: !place[0] || !nf ? 1
					   : located(where[0], p->path);
	if (!in_policy)
		for (int i = 0; i < nf; i++)
			if (located(where[i], p->path)) {
				snprintf(from, sizeof from, " (called from %.500s)", where[i]);
				break;
			}
	char hint[160] = "";
	for (size_t i = 0; i < sizeof hints / sizeof *hints; i++) {
		char undefined[64];
		snprintf(undefined, sizeof undefined, "undefined global '%s'", hints[i].global);
		if (strstr(first, undefined))
			snprintf(hint, sizeof hint, " (%s)", hints[i].advice);
	}
	size_t size = strlen(place) + strlen(first) + strlen(hint) + strlen(from) + 1;
	char *raw = xmalloc(size);
	snprintf(raw, size, "%s%s%s%s", place, first, hint, from);
	/* a Lua error quotes the file's own bytes */
	text = text_safe(raw, strlen(raw), NULL);
	free(raw);
	return text;
}

static struct found *add_found(struct check *c, char *text)
{
	for (int i = 0; i < c->nfound; i++)
		if (!strcmp(c->found[i].text, text)) {
			free(text);
			return &c->found[i];
		}
	if (c->nfound == c->cap)
		c->found = xrealloc(c->found,
				    (size_t)(c->cap = c->cap ? 2 * c->cap : 8) * sizeof *c->found);
	struct found *f = &c->found[c->nfound++];
	memset(f, 0, sizeof *f);
	f->text = text;
	return f;
}

/* A call that failed, for pupil v (of kind SYNTHETIC or STORED) on day.
 * Returns the error's index, or -1 if it was already found in the text. */
static int failed(struct check *c, int kind, const struct pupil_view *v, int day, const char *err)
{
	char *text = error_text(c->p, err);
	for (int i = 0; i < c->nstatic; i++)
		if (!strncmp(text, c->static_at[i], strlen(c->static_at[i]))) {
			free(text); /* already said, from the text */
			return -1;
		}
	struct found *f = add_found(c, text);
	if (!f->traceback)
		f->traceback = xstrdup(err);
	if (f->pupils[kind] == 0) {
		snprintf(f->upn[kind], sizeof f->upn[kind], "%s", v->upn);
		f->day[kind] = day;
		if (kind == SYNTHETIC)
			synthetic_describe(c->sp, f->who, sizeof f->who);
	}
	if (f->last[kind] != v->id || f->pupils[kind] == 0)
		f->pupils[kind]++;
	f->last[kind] = v->id;
	return (int)(f - c->found);
}

/* A policy is given up, for the time a check may take, after
 * CHECK_STOPS_MAX calls stopped for a budget, or one failed call of over
 * CHECK_SLOW_SECONDS: an honest call takes microseconds and a stop for the
 * deadline comes at 1 s, so one that took longer failed in a way the
 * sandbox cannot cut short (a stack overflow unwinding). */
static int given_up(const struct check *c)
{
	return c->stops >= CHECK_STOPS_MAX || c->slow > 0;
}

/* After a call of pupil v (of kind) on day: err if it failed, and how
 * long it took. Returns the error's index (-1: found in the text already),
 * or -2 if the call did not fail. */
static int after_call(struct check *c, int kind, const struct pupil_view *v, int day,
		      const char *err, double seconds)
{
	if (!err)
		return -2;
	c->stops += c->p->sb.last_stopped;
	if (seconds > CHECK_SLOW_SECONDS)
		c->slow = seconds;
	return failed(c, kind, v, day, err);
}

static int stored_call(const struct pupil_view *v, int day, const char *err, double seconds,
		       void *arg)
{
	after_call(arg, STORED, v, day, err, seconds);
	return given_up(arg);
}

/* An error found without running anything: FILE:LINE: message. */
static void found_in_text(struct check *c, int line, const char *fmt, ...) PRINTF_LIKE(3, 4);
static void found_in_text(struct check *c, int line, const char *fmt, ...)
{
	char message[1024], *text;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(message, sizeof message, fmt, ap);
	va_end(ap);
	size_t size = strlen(c->p->path) + strlen(message) + 32;
	text = xmalloc(size);
	snprintf(text, size, "%s:%d: %s", c->p->path, line, message);
	char *safe = text_safe(text, strlen(text), NULL);
	free(text);
	add_found(c, safe);
	if (c->nstatic < (int)(sizeof c->static_at / sizeof *c->static_at)) {
		/* "FILE:LINE:" of it, for the same line met at run time */
		size_t n = strlen(c->p->path) + 16;
		char *at = xmalloc(n);
		snprintf(at, n, "%s:%d:", c->p->path, line);
		c->static_at[c->nstatic++] = at;
	}
}

/* ---- the calls on modules, read from the text ---- */

struct binding {
	char name[64], module[64];
};

struct text_scan {
	struct check *c;
	const char *text;
	struct binding b[CHECK_BINDINGS];
	int nb;
	unsigned warned_roles; /* bit per policy_roles index */
};

static int is_name_char(char ch)
{
	return isalnum((unsigned char)ch) || ch == '_';
}

/* `NAME = require "module"` (or require("module"), local or not): the
 * name a module is known by. */
static int find_binding(const struct lua_call *call, void *arg)
{
	struct text_scan *t = arg;
	if (call->namelen != 7 || memcmp(call->name, "require", 7) != 0 || !call->literal ||
	    t->nb == CHECK_BINDINGS || call->literallen >= sizeof t->b[0].module)
		return 0;
	const char *q = call->name;
	while (q > t->text && (q[-1] == ' ' || q[-1] == '\t'))
		q--;
	if (q == t->text || q[-1] != '=' || (q - 1 > t->text && strchr("=~<>", q[-2])))
		return 0; /* not an assignment */
	q--;
	while (q > t->text && (q[-1] == ' ' || q[-1] == '\t'))
		q--;
	const char *end = q;
	while (q > t->text && is_name_char(q[-1]))
		q--;
	if (q == end || isdigit((unsigned char)*q) || end - q >= (long)sizeof t->b[0].name ||
	    (q > t->text && (q[-1] == '.' || q[-1] == ':' || q[-1] == ']' || q[-1] == ',')))
		return 0; /* a field, or one of several names: not followed */
	struct binding *b = &t->b[t->nb++];
	snprintf(b->name, sizeof b->name, "%.*s", (int)(end - q), q);
	snprintf(b->module, sizeof b->module, "%.*s", (int)call->literallen, call->literal);
	return 0;
}

/* In the policy's state, protected: does module (arg 1), as require gives
 * it, have the field arg 2? Returns true, or false and the nearest name. */
static int module_field(lua_State *L)
{
	lua_getglobal(L, "require");
	lua_pushvalue(L, 1);
	lua_call(L, 1, 1);
	if (!lua_istable(L, -1)) {
		lua_pushboolean(L, 1); /* not a table of functions: nothing to say */
		return 1;
	}
	int fields = lua_gettop(L);
	/* a read-only module keeps its fields behind its metatable's __index */
	if (lua_getmetatable(L, fields)) {
		lua_pushliteral(L, "__index");
		lua_rawget(L, -2);
		if (lua_istable(L, -1))
			fields = lua_gettop(L);
	}
	lua_pushvalue(L, 2);
	if (lua_rawget(L, fields) != LUA_TNIL) {
		lua_pushboolean(L, 1);
		return 1;
	}
	const char *names[256];
	int n = 0;
	lua_pushnil(L);
	while (n < 256 && lua_next(L, fields)) {
		if (lua_type(L, -2) == LUA_TSTRING)
			names[n++] = lua_tostring(L, -2); /* alive while the table is */
		lua_pop(L, 1);
	}
	const char *near = policy_near_miss(lua_tostring(L, 2), names, n);
	lua_pushboolean(L, 0);
	if (near)
		lua_pushstring(L, near);
	else
		lua_pushnil(L);
	return 2;
}

static int check_module_call(const struct lua_call *call, void *arg)
{
	struct text_scan *t = arg;
	size_t qlen = (size_t)(call->base - call->name);
	if (qlen < 2 || memchr(call->name, '.', qlen - 1) || memchr(call->name, ':', qlen - 1))
		return 0; /* not NAME.f */
	const struct binding *b = NULL;
	for (int i = 0; i < t->nb && !b; i++)
		if (strlen(t->b[i].name) == qlen - 1 && !memcmp(t->b[i].name, call->name, qlen - 1))
			b = &t->b[i];
	if (!b)
		return 0;
	struct policy *p = t->c->p;
	lua_State *L = p->sb.L;
	char err[512];
	size_t flen = call->namelen - qlen;
	lua_pushcfunction(L, module_field);
	lua_pushstring(L, b->module);
	lua_pushlstring(L, call->base, flen);
	if (sandbox_call(&p->sb, 2, 2, err, sizeof err) < 0)
		return 0; /* the module does not load: every call says so */
	if (!lua_toboolean(L, -2)) {
		const char *near = lua_tostring(L, -1); /* on the stack until the pop */
		found_in_text(t->c, call->line, "%s.%.*s is not defined in %s/%s.lua%s%s%s%s%s",
			      b->name, (int)flen, call->base, t->c->cli->cfg.scripts, b->module,
			      near ? " (did you mean " : "", near ? b->name : "", near ? "." : "",
			      near ? near : "", near ? "?)" : "");
	}
	lua_pop(L, 2);
	return 0;
}

/* An action whose role has no endpoint is recorded and never delivered
 * (state no_endpoint): legal, perhaps meant, but worth a warning, once a
 * role, at the first line that calls it. */
static int check_roles(const struct lua_call *call, void *arg)
{
	static const struct {
		const char *call;
		int role, fallback; /* policy_roles; -1: none */
	} actions[] = {
		{ "alert", 0, -1 },
		{ "refer_mentor", 1, -1 },
		{ "legal_step", 2, -1 },
		{ "close_case", 3, 2 },
	};
	struct text_scan *t = arg;
	const struct policy *p = t->c->p;
	for (size_t i = 0; i < sizeof actions / sizeof *actions; i++) {
		int r = actions[i].role, f = actions[i].fallback;
		if (call->namelen != strlen(actions[i].call) ||
		    memcmp(call->name, actions[i].call, call->namelen) != 0 || p->endpoint[r] ||
		    (f >= 0 && p->endpoint[f]) || (t->warned_roles & (1 << r)))
			continue;
		t->warned_roles |= 1 << r;
		if (t->c->cli->verbosity >= 0)
			error("warning: %s:%d: %s: policy{ endpoints } names no %s endpoint%s%s%s: "
			      "these actions will be recorded and never delivered",
			      p->path, call->line, actions[i].call, policy_roles[r],
			      f >= 0 ? " nor a " : "", f >= 0 ? policy_roles[f] : "",
			      f >= 0 ? " endpoint" : "");
	}
	return 0;
}

/* A pupil's field compared with a literal of another type is never equal
 * to it: `p.year_group == 9` (the year group is text) and
 * `p.social_worker == 1` (true or false) are always false, and silently
 * turn a rule off. */
struct field_scan {
	struct check *c;
	const char *pupil; /* on_pupil's parameter, "p" */
	size_t len;
};

static int check_comparison(const struct lua_comparison *cmp, void *arg)
{
	static const char *const literal_types[] = { "number", "string", "boolean", "nil" };
	struct field_scan *f = arg;
	if (cmp->type == LUALEX_NIL || cmp->namelen <= f->len + 1 ||
	    memcmp(cmp->name, f->pupil, f->len) != 0 || cmp->name[f->len] != '.')
		return 0;
	const char *field = cmp->name + f->len + 1;
	size_t len = cmp->namelen - f->len - 1;
	const char *type = policy_field_type(field, len);
	if (!type || memchr(field, '.', len) || memchr(field, ':', len) ||
	    !strcmp(type, literal_types[cmp->type]))
		return 0;
	char hint[160] = "";
	if (len == 10 && !memcmp(field, "year_group", 10) && cmp->type == LUALEX_NUMBER)
		snprintf(hint, sizeof hint, "; for the year as a number write %.*s.year %s %.*s",
			 (int)f->len, f->pupil, cmp->op, (int)cmp->literallen, cmp->literal);
	else if (!strcmp(type, "boolean"))
		snprintf(hint, sizeof hint, "; write `if %.*s then` or `if not %.*s then`",
			 (int)cmp->namelen, cmp->name, (int)cmp->namelen, cmp->name);
	found_in_text(f->c, cmp->line, "%.*s is a %s, so `%.*s %s %.*s` is %s%s", (int)cmp->namelen,
		      cmp->name, type, (int)cmp->namelen, cmp->name, cmp->op, (int)cmp->literallen,
		      cmp->literal, *cmp->op == '=' ? "never true" : "always true", hint);
	return 0;
}

/* on_pupil's parameter as the text names it ("p"), into f. */
static void pupil_name(const char *text, struct field_scan *f)
{
	const char *at = strstr(text, "function on_pupil");
	f->pupil = "p";
	f->len = 1;
	if (!at)
		return;
	at += strlen("function on_pupil");
	at += strspn(at, " \t");
	if (*at++ != '(')
		return;
	at += strspn(at, " \t");
	size_t n = 0;
	while (is_name_char(at[n]))
		n++;
	if (n) {
		f->pupil = at;
		f->len = n;
	}
}

/* The calls in the policy's text on the modules it required. */
static void check_text(struct check *c)
{
	char err[512];
	size_t len;
	char *text = sandbox_read_file(c->p->path, POLICY_FILE_MAX, &len, err, sizeof err);
	if (!text)
		return; /* it loaded a moment ago: gone since, and run will say so */
	struct text_scan t = { .c = c, .text = text };
	lualex_calls(text, len, find_binding, &t);
	if (t.nb)
		lualex_calls(text, len, check_module_call, &t);
	lualex_calls(text, len, check_roles, &t);
	struct field_scan f = { .c = c };
	pupil_name(text, &f);
	lualex_comparisons(text, len, check_comparison, &f);
	free(text);
}

/* ---- endpoints ---- */

static int by_text(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void check_endpoints(struct check *c, int *warned)
{
	const struct config *cfg = &c->cli->cfg;
	struct policy *p = c->p;
	for (int r = 0; r < POLICY_ROLES; r++) {
		const char *name = p->endpoint[r];
		if (!name || config_endpoint(cfg, name))
			continue;
		if (!cfg->path || cfg->nendpoints == 0) {
			if (!*warned && c->cli->verbosity >= 0)
				error("warning: %s%s: the endpoints policies name were not checked "
				      "(their actions would be recorded, never delivered)",
				      cfg->path ? cfg->path : "no configuration file",
				      cfg->path ? " configures no endpoints" : "");
			*warned = 1;
			return;
		}
		const char **names = xcalloc((size_t)cfg->nendpoints, sizeof *names);
		char list[512] = "";
		for (int i = 0; i < cfg->nendpoints; i++)
			names[i] = cfg->endpoints[i].name;
		qsort(names, (size_t)cfg->nendpoints, sizeof *names, by_text);
		for (int i = 0; i < cfg->nendpoints; i++) {
			size_t at = strlen(list);
			if (i < 8)
				snprintf(list + at, sizeof list - at, "%s%s", i ? ", " : "",
					 names[i]);
			else if (i == 8)
				snprintf(list + at, sizeof list - at, ", ...");
		}
		const char *near = policy_near_miss(name, names, cfg->nendpoints);
		found_in_text(c, p->line,
			      "endpoints.%s = \"%s\" is not an endpoint in %s (it has %s)%s%s%s",
			      policy_roles[r], name, cfg->path, list,
			      near ? "; did you mean \"" : "", near ? near : "", near ? "\"?" : "");
		free(names);
	}
}

/* ---- running on_pupil ---- */

/* Every synthetic pupil at every point. Returns the calls made, or -1 on a
 * database error. */
static long run_synthetic(struct check *c, struct synthetic *s)
{
	struct policy *p = c->p;
	struct actions_draft draft = { 0 };
	char err[4096];
	long calls = 0;
	if (synthetic_begin(s, p->org) < 0 || db_exec(&s->db, "BEGIN") < 0)
		return -1;
	p->errors = p->logs = 0;
	for (int i = 0; i < SYNTHETIC_PUPILS && !given_up(c); i++) {
		struct synthetic_pupil *sp = &s->pupil[i];
		c->sp = sp;
		/* a pupil that fails twice running the same way is left: its
		 * later points would most likely say it again, at a cost */
		int previous = -2;
		for (int k = 0; k < sp->npoints && !given_up(c); k++) {
			struct pupil_view v;
			int day, session, code;
			synthetic_view(sp, k, &v);
			stats_latest(&sp->h, &day, &session, &code);
			calls++;
			double t0 = monotonic_seconds();
			int rc = policy_evaluate(p, &v, &s->actions, &draft, err, sizeof err);
			double seconds = monotonic_seconds() - t0;
			if (rc == -2 || (rc == 0 && actions_commit(&s->actions, &draft) < 0)) {
				synthetic_view(sp, sp->npoints, &v);
				actions_draft_free(&draft);
				db_rollback(&s->db);
				return -1;
			}
			int error = after_call(c, SYNTHETIC, &v, day, rc < 0 ? err : NULL, seconds);
			if (error == previous && error != -2)
				break;
			previous = error;
		}
		struct pupil_view whole;
		synthetic_view(sp, sp->npoints, &whole);
	}
	actions_draft_free(&draft);
	return db_commit(&s->db) < 0 ? -1 : calls;
}

static void report(const struct check *c, int synthetic_pupils, long stored_pupils)
{
	for (int i = 0; i < c->nfound; i++) {
		const struct found *f = &c->found[i];
		char d[11], counts[160] = "";
		int kind = f->pupils[STORED] ? STORED : SYNTHETIC;
		if (f->pupils[STORED])
			snprintf(counts, sizeof counts, "%d of %ld stored pupils",
				 f->pupils[STORED], stored_pupils);
		if (f->pupils[SYNTHETIC]) {
			size_t at = strlen(counts);
			snprintf(counts + at, sizeof counts - at, "%s%d of %d synthetic pupils",
				 at ? ", " : "", f->pupils[SYNTHETIC], synthetic_pupils);
		}
		if (!f->pupils[SYNTHETIC] && !f->pupils[STORED])
			fprintf(stderr, "%s\n", f->text);
		else if (kind == STORED)
			fprintf(stderr, "%s (pupil %s, %s; %s)\n", f->text, f->upn[STORED],
				date_format(f->day[STORED], d), counts);
		else
			fprintf(stderr, "%s (pupil %s, %s, synthetic: %s; %s)\n", f->text,
				f->upn[SYNTHETIC], date_format(f->day[SYNTHETIC], d), f->who,
				counts);
		if (c->cli->verbosity > 0 && f->traceback) {
			char *safe = text_safe(f->traceback, strlen(f->traceback), "\n\t");
			fprintf(stderr, "  %s\n", safe);
			free(safe);
		}
	}
	if (c->slow > 0)
		fprintf(stderr, "%s: not run further: a call that failed took %.1f s\n", c->p->path,
			c->slow);
	else if (c->stops >= CHECK_STOPS_MAX)
		fprintf(stderr,
			"%s: not run further: %d calls were stopped for going over a budget\n",
			c->p->path, c->stops);
}

static void check_free(struct check *c)
{
	for (int i = 0; i < c->nfound; i++) {
		free(c->found[i].text);
		free(c->found[i].traceback);
	}
	free(c->found);
	for (int i = 0; i < c->nstatic; i++)
		free((char *)c->static_at[i]);
	memset(c, 0, sizeof *c);
}

int cmd_check(struct cli *cli, int argc, char **argv)
{
	/* The policies, a set of their own (check writes nothing about the
	 * load anywhere), and an engine over the database for the stored
	 * pupils, which runs them. */
	struct policy_set set = { 0 };
	struct engine db;
	struct synthetic s;
	struct stat st;
	int stored = cli->db_path && stat(cli->db_path, &st) == 0, status = EXIT_SUCCESS;
	static const char *const outcomes[] = { "actions", "cases", "deliveries", NULL };

	for (int i = 1; i < argc; i++)
		if (argv[i][0] == '-')
			return cmd_usage(cli);
	/* as replay: read-only, and what policies decide goes to TEMP copies */
	if (stored &&
	    (db_open(&cli->db, cli->db_path, DB_READONLY) < 0 || db_check_version(&cli->db) < 0 ||
	     db_shadow(&cli->db, outcomes) < 0 || engine_open(&db, &cli->db, &cli->cfg) < 0))
		return EXIT_FAILURE;
	int failed_loads = policy_set_load(&set, &cli->cfg, argv + 1, argc - 1, cmd_policy_error);
	if (failed_loads < 0 || synthetic_open(&s, &cli->cfg) < 0) {
		policy_set_free(&set);
		if (stored)
			engine_close(&db);
		return failed_loads < 0 ? EXIT_USAGE : EXIT_FAILURE;
	}
	int synthetic_pupils = 0, warned = 0;
	for (int i = 0; i < SYNTHETIC_PUPILS; i++)
		synthetic_pupils += s.pupil[i].npoints > 0;
	/* what the policies log, and the refusals their actions meet, are
	 * the run's business, not the check's */
	enum log_level threshold = log_threshold;
	if (cli->verbosity <= 0 && log_threshold < LOG_WARN)
		log_threshold = LOG_WARN;
	for (int i = 0; i < set.npolicies && status != EXIT_FAILURE; i++) {
		struct check c = { .cli = cli, .p = set.policies[i] };
		size_t memory = c.p->sb.memory;
		long synthetic_calls, stored_pupils = 0, stored_calls = 0;
		check_text(&c);
		check_endpoints(&c, &warned);
		synthetic_calls = run_synthetic(&c, &s);
		if (synthetic_calls < 0 || (stored && !given_up(&c) &&
					    engine_sample(&db, c.p, CHECK_STORED_MAX, stored_call,
							  &c, &stored_pupils, &stored_calls) < 0))
			status = EXIT_FAILURE;
		else if (c.nfound)
			status = EXIT_USAGE;
		report(&c, synthetic_pupils, stored_pupils);
		if (status != EXIT_FAILURE && !c.nfound && cli->verbosity >= 0) {
			const struct policy *p = c.p;
			printf("ok %s: %s (%s), %d params, %zu KiB of Lua state, sha256 %.12s; "
			       "on_pupil ran %ld times over %d synthetic pupils",
			       p->path, p->org, p->name, p->nparams, memory / 1024, p->sha256,
			       synthetic_calls, synthetic_pupils);
			if (stored && stored_pupils)
				printf(" and %ld over %ld stored pupils", stored_calls,
				       stored_pupils);
			else if (stored)
				printf("; the database has no pupil it covers");
			printf("\n");
		}
		check_free(&c);
	}
	log_threshold = threshold;
	synthetic_close(&s);
	policy_set_free(&set);
	if (stored)
		engine_close(&db);
	if (status == EXIT_SUCCESS && failed_loads > 0)
		status = EXIT_USAGE;
	return status;
}
