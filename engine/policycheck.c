/*
 * policycheck.c — checking a policy before it is live (policycheck.h):
 * its text, its endpoints, and on_pupil run over synthetic and stored
 * pupils, every distinct error kept once.
 */
#include "policycheck.h"

#include "date.h"
#include "lualex.h"
#include "util.h"

#include <ctype.h>
#include <lauxlib.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK_STOPS_MAX	   3   /* calls stopped for a budget before a policy is given up */
#define CHECK_BINDINGS	   16  /* `local x = require "m"` a policy may have, checked */
#define CHECK_SLOW_SECONDS 1.0 /* a failed call this long: the policy is given up at once */

enum { SYNTHETIC = POLICYCHECK_SYNTHETIC, STORED = POLICYCHECK_STORED };

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

static struct policycheck_found *add_found(struct policycheck *c, char *text)
{
	for (int i = 0; i < c->nfound; i++)
		if (!strcmp(c->found[i].text, text)) {
			free(text);
			return &c->found[i];
		}
	if (c->nfound == c->cap)
		c->found = xrealloc(c->found,
				    (size_t)(c->cap = c->cap ? 2 * c->cap : 8) * sizeof *c->found);
	struct policycheck_found *f = &c->found[c->nfound++];
	memset(f, 0, sizeof *f);
	f->text = text;
	return f;
}

/* A call that failed, for pupil v (of kind SYNTHETIC or STORED) on day.
 * Returns the error's index, or -1 if it was already found in the text. */
static int failed(struct policycheck *c, int kind, const struct pupil_view *v, int day,
		  const char *err)
{
	char *text = error_text(c->p, err);
	for (int i = 0; i < c->nstatic; i++)
		if (!strncmp(text, c->static_at[i], strlen(c->static_at[i]))) {
			free(text); /* already said, from the text */
			return -1;
		}
	struct policycheck_found *f = add_found(c, text);
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
static int given_up(const struct policycheck *c)
{
	return c->stops >= CHECK_STOPS_MAX || c->slow > 0;
}

/* After a call of pupil v (of kind) on day: err if it failed, and how
 * long it took. Returns the error's index (-1: found in the text already),
 * or -2 if the call did not fail. */
static int after_call(struct policycheck *c, int kind, const struct pupil_view *v, int day,
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

/* A warning, handed to the caller as it is found. */
static void warn(const struct policycheck *c, const char *fmt, ...) PRINTF_LIKE(2, 3);
static void warn(const struct policycheck *c, const char *fmt, ...)
{
	char text[2048];
	va_list ap;
	if (!c->warn)
		return;
	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	c->warn(text, c->warn_arg);
}

/* An error found without running anything: FILE:LINE: message. */
static void found_in_text(struct policycheck *c, int line, const char *fmt, ...) PRINTF_LIKE(3, 4);
static void found_in_text(struct policycheck *c, int line, const char *fmt, ...)
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
	struct policycheck *c;
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
			      b->name, (int)flen, call->base, t->c->cfg->scripts, b->module,
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
		warn(t->c,
		     "warning: %s:%d: %s: policy{ endpoints } names no %s endpoint%s%s%s: "
		     "these actions will be recorded and never delivered",
		     p->path, call->line, actions[i].call, policy_roles[r], f >= 0 ? " nor a " : "",
		     f >= 0 ? policy_roles[f] : "", f >= 0 ? " endpoint" : "");
	}
	return 0;
}

/* A pupil's field compared with a literal of another type is never equal
 * to it: `p.year_group == 9` (the year group is text) and
 * `p.social_worker == 1` (true or false) are always false, and silently
 * turn a rule off. */
struct field_scan {
	struct policycheck *c;
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
static void check_text(struct policycheck *c)
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

static void check_endpoints(struct policycheck *c)
{
	int once = 0, *warned = c->endpoints_warned ? c->endpoints_warned : &once;
	const struct config *cfg = c->cfg;
	struct policy *p = c->p;
	for (int r = 0; r < POLICY_ROLES; r++) {
		const char *name = p->endpoint[r];
		if (!name || config_endpoint(cfg, name))
			continue;
		if (!cfg->path || cfg->nendpoints == 0) {
			if (!*warned)
				warn(c,
				     "warning: %s%s: the endpoints policies name were not checked "
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
static long run_synthetic(struct policycheck *c, struct synthetic *s)
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

int policycheck_run(struct policycheck *c, struct synthetic *s, struct engine *stored)
{
	c->memory = c->p->sb.memory;
	c->synthetic_pupils = 0;
	for (int i = 0; i < SYNTHETIC_PUPILS; i++)
		c->synthetic_pupils += s->pupil[i].npoints > 0;
	check_text(c);
	check_endpoints(c);
	if ((c->synthetic_calls = run_synthetic(c, s)) < 0)
		return -1;
	if (stored && !given_up(c) &&
	    engine_sample(stored, c->p, POLICYCHECK_STORED_MAX, stored_call, c, &c->stored_pupils,
			  &c->stored_calls) < 0)
		return -1;
	return 0;
}

int policycheck_given_up(const struct policycheck *c)
{
	return given_up(c);
}

/* Why the policy was given up, into buf ("" if it was not). */
static const char *given_up_text(const struct policycheck *c, char *buf, size_t size)
{
	buf[0] = '\0';
	if (c->slow > 0)
		snprintf(buf, size, "%s: not run further: a call that failed took %.1f s",
			 c->p->path, c->slow);
	else if (c->stops >= CHECK_STOPS_MAX)
		snprintf(buf, size,
			 "%s: not run further: %d calls were stopped for going over a budget",
			 c->p->path, c->stops);
	return buf;
}

/* How many pupils of each kind met f: "3 of 500 stored pupils, 2 of 34
 * synthetic pupils". */
static void counts_text(const struct policycheck *c, const struct policycheck_found *f, char *buf,
			size_t size)
{
	buf[0] = '\0';
	if (f->pupils[STORED])
		snprintf(buf, size, "%d of %ld stored pupils", f->pupils[STORED], c->stored_pupils);
	if (f->pupils[SYNTHETIC]) {
		size_t at = strlen(buf);
		snprintf(buf + at, size - at, "%s%d of %d synthetic pupils", at ? ", " : "",
			 f->pupils[SYNTHETIC], c->synthetic_pupils);
	}
}

void policycheck_report(const struct policycheck *c, int verbose)
{
	char why[4200];
	for (int i = 0; i < c->nfound; i++) {
		const struct policycheck_found *f = &c->found[i];
		char d[11], counts[160];
		int kind = f->pupils[STORED] ? STORED : SYNTHETIC;
		counts_text(c, f, counts, sizeof counts);
		if (!f->pupils[SYNTHETIC] && !f->pupils[STORED])
			fprintf(stderr, "%s\n", f->text);
		else if (kind == STORED)
			fprintf(stderr, "%s (pupil %s, %s; %s)\n", f->text, f->upn[STORED],
				date_format(f->day[STORED], d), counts);
		else
			fprintf(stderr, "%s (pupil %s, %s, synthetic: %s; %s)\n", f->text,
				f->upn[SYNTHETIC], date_format(f->day[SYNTHETIC], d), f->who,
				counts);
		if (verbose && f->traceback) {
			char *safe = text_safe(f->traceback, strlen(f->traceback), "\n\t");
			fprintf(stderr, "  %s\n", safe);
			free(safe);
		}
	}
	if (given_up_text(c, why, sizeof why)[0])
		fprintf(stderr, "%s\n", why);
}

/* s with every from in it replaced by to: a new string. */
static char *replaced(const char *s, const char *from, const char *to)
{
	size_t n = strlen(from), m = strlen(to), count = 0;
	for (const char *q = s; (q = strstr(q, from)); q += n)
		count++;
	char *out = xmalloc(strlen(s) + count * m + 1), *o = out;
	for (const char *q = s, *at; *q; q = at + n) {
		if (!(at = strstr(q, from))) {
			strcpy(o, q);
			return out;
		}
		memcpy(o, q, (size_t)(at - q));
		o += at - q;
		memcpy(o, to, m);
		o += m;
	}
	*o = '\0';
	return out;
}

json_t *policycheck_error_json(const char *text, const char *path, const char *name)
{
	size_t n = strlen(path), place = 0;
	json_t *line = json_null();
	const char *message = text;
	char *renamed = NULL;
	if (!strncmp(text, path, n) && text[n] == ':')
		place = n;
	else if (!strncmp(text, "...", 3)) {
		/* Lua shortens a long chunk name to "..." and its end */
		const char *colon = strchr(text + 3, ':');
		size_t k = colon ? (size_t)(colon - text - 3) : 0;
		if (colon && k <= n && !strncmp(path + n - k, text + 3, k))
			place = (size_t)(colon - text);
	}
	if (place) {
		const char *at = text + place + 1;
		char *end;
		long l = strtol(at, &end, 10);
		if (end > at && *end == ':' && l > 0) {
			line = json_integer(l);
			message = end + 1 + (end[1] == ' ');
		} else {
			message = at + (*at == ' ');
		}
	}
	/* the path may be quoted again inside the message (a temporary
	 * file's): the reader knows the text by name only */
	if (n && strcmp(path, name) && strstr(message, path))
		message = renamed = replaced(message, path, name);
	json_t *o = json_pack("{s:s, s:o, s:s}", "file", name, "line", line, "message", message);
	free(renamed);
	return o;
}

json_t *policycheck_json(const struct policycheck *c, const char *name)
{
	json_t *list = json_array();
	char why[4200];
	for (int i = 0; i < c->nfound; i++) {
		const struct policycheck_found *f = &c->found[i];
		json_t *o = policycheck_error_json(f->text, c->p->path, name);
		int kind = f->pupils[STORED] ? STORED : SYNTHETIC;
		if (f->pupils[SYNTHETIC] || f->pupils[STORED]) {
			char d[11];
			json_object_set_new(
				o, "pupil",
				json_pack("{s:s, s:s, s:o}", "upn", f->upn[kind], "date",
					  date_format(f->day[kind], d), "synthetic",
					  kind == SYNTHETIC ? json_string(f->who) : json_null()));
			json_object_set_new(o, "synthetic_pupils",
					    json_integer(f->pupils[SYNTHETIC]));
			json_object_set_new(o, "stored_pupils", json_integer(f->pupils[STORED]));
		}
		json_array_append_new(list, o);
	}
	if (given_up_text(c, why, sizeof why)[0])
		json_array_append_new(list, policycheck_error_json(why, c->p->path, name));
	return list;
}

void policycheck_free(struct policycheck *c)
{
	for (int i = 0; i < c->nfound; i++) {
		free(c->found[i].text);
		free(c->found[i].traceback);
	}
	free(c->found);
	for (int i = 0; i < c->nstatic; i++)
		free((char *)c->static_at[i]);
	c->found = NULL;
	c->nfound = c->cap = c->nstatic = 0;
}
