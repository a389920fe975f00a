/*
 * lualex.h — the calls a Lua source text makes, found without running it:
 * `name(...)`, `name "text"`, `name("text", ...)`, `a.b(...)`, `a:b(...)`.
 * Comments and strings are skipped as Lua's lexer skips them, so a call
 * written inside a comment or a string is not one. `function name(...)`
 * and `local function name(...)` define, not call, and are not reported.
 *
 * `rollcall check` uses it to find each `param "x"` whose name the policy
 * does not declare, even in a branch no synthetic pupil reaches, and each
 * comparison of a pupil's field with a literal of another type, and
 * `rollcall test` to list the lines that can record an action. Knows
 * nothing of Lua's API: it reads text only.
 */
#ifndef ROLLCALL_LUALEX_H
#define ROLLCALL_LUALEX_H

#include <stddef.h>

struct lua_call {
	const char *name;    /* the called name: "param", or "national.persistent" */
	size_t namelen;	     /* with its qualifier; the last part starts at base */
	const char *base;    /* "persistent" in "national.persistent" */
	const char *literal; /* the first argument when it is a plain string, else NULL */
	size_t literallen;
	int line; /* of the name */
};

/* Call each for every call in src[0..len), in order; stop early if each
 * returns non-zero, and return that. Returns 0 otherwise. */
int lualex_calls(const char *src, size_t len, int (*each)(const struct lua_call *c, void *arg),
		 void *arg);

/* A name compared with a literal: `p.year_group == 9`, `true ~= p.fsm`. */
enum lualex_literal { LUALEX_NUMBER, LUALEX_STRING, LUALEX_BOOLEAN, LUALEX_NIL };

struct lua_comparison {
	const char *name; /* "p.year_group": a name or a chain a.b */
	size_t namelen;
	const char *op;	     /* "==" or "~=" */
	const char *literal; /* as written: 9, "9" (with its quotes), true */
	size_t literallen;
	enum lualex_literal type;
	int line;
};

/* Call each for every `==` or `~=` between a name (or a.b chain) and a
 * literal, either way round, in src[0..len); as lualex_calls. */
int lualex_comparisons(const char *src, size_t len,
		       int (*each)(const struct lua_comparison *c, void *arg), void *arg);

#endif
