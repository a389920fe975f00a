/*
 * luajson.c — Lua values to jansson values, bounded in depth and size, with
 * cycle detection through the stack of tables being converted. A refusal
 * names where in the value it happened ("rates.week[3]: not a finite
 * number"): the path is built only on the way out of a failure, each table
 * level putting its key in front, so encoding that succeeds pays nothing
 * for it.
 */
#include "luajson.h"

#include "util.h"

#include <lauxlib.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define KEY_SHOWN 40 /* bytes of one key shown in a path */

/* How a refusal and its path are put together. */
enum placing {
	AT_VALUE, /* "PATH: reason": this value is refused */
	IN_TABLE, /* "reason (at PATH)": the shape of the whole (a cycle, the depth) */
	NOWHERE,  /* "reason": the whole is too big */
};

struct encoder {
	lua_State *L;
	size_t bytes;
	int depth;
	const void *tables[LUAJSON_MAX_DEPTH]; /* tables being converted, for cycles */
	char reason[200];
	enum placing placing;
	char path[129]; /* filled from the end backwards while a failure unwinds; kept short
			  enough that path and reason fit a caller's 256-byte why */
	size_t pathlen;
};

static json_t *refuse(struct encoder *e, enum placing placing, const char *fmt, ...)
	PRINTF_LIKE(3, 4);

static json_t *refuse(struct encoder *e, enum placing placing, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(e->reason, sizeof e->reason, fmt, ap);
	va_end(ap);
	e->placing = placing;
	return NULL;
}

/* Put seg[0..n) in front of the path; past its room, the front becomes "...". */
static void path_prepend(struct encoder *e, const char *seg, size_t n)
{
	size_t room = sizeof e->path - 1;
	if (e->pathlen + n > room) {
		if (e->pathlen + 3 <= room && strncmp(e->path, "...", 3)) {
			size_t dot = e->path[0] == '.'; /* "...name", not "....name" */
			memmove(e->path + 3 - dot, e->path, e->pathlen);
			memcpy(e->path, "...", 3);
			e->pathlen += 3 - dot;
		}
		return;
	}
	memmove(e->path + n, e->path, e->pathlen);
	memcpy(e->path, seg, n);
	e->pathlen += n;
}

/* The key at idx as a step of a path: .name, ["other text"] or [n]. */
static void path_key(struct encoder *e, lua_State *L, int idx)
{
	char seg[KEY_SHOWN + 16];
	int n;
	if (lua_type(L, idx) == LUA_TSTRING) {
		size_t len;
		const char *k = lua_tolstring(L, idx, &len);
		int name = len > 0 && !(k[0] >= '0' && k[0] <= '9');
		for (size_t i = 0; i < len && name; i++)
			name = k[i] == '_' || (k[i] >= 'a' && k[i] <= 'z') ||
			       (k[i] >= 'A' && k[i] <= 'Z') || (k[i] >= '0' && k[i] <= '9');
		size_t shown = len < KEY_SHOWN ? len : KEY_SHOWN;
		while (shown < len && shown > 0 && ((unsigned char)k[shown] & 0xc0) == 0x80)
			shown--; /* cut at a character, not inside one (keys are UTF-8) */
		const char *more = shown < len ? "..." : "";
		n = name ? snprintf(seg, sizeof seg, ".%.*s%s", (int)shown, k, more)
			 : snprintf(seg, sizeof seg, "[\"%.*s%s\"]", (int)shown, k, more);
	} else if (lua_isinteger(L, idx)) {
		n = snprintf(seg, sizeof seg, "[%lld]", (long long)lua_tointeger(L, idx));
	} else {
		n = snprintf(seg, sizeof seg, "[%.17g]", lua_tonumber(L, idx));
	}
	path_prepend(e, seg, n < 0 ? 0 : (size_t)n < sizeof seg ? (size_t)n : sizeof seg - 1);
}

static json_t *encode(struct encoder *e, int idx);

static int spend(struct encoder *e, size_t n)
{
	e->bytes += n;
	if (e->bytes <= LUAJSON_MAX_BYTES)
		return 0;
	refuse(e, NOWHERE, "larger than %d bytes of JSON", LUAJSON_MAX_BYTES);
	return -1;
}

/* 1..n with no other keys: an array of n. Otherwise -1. */
static lua_Integer array_length(lua_State *L, int idx)
{
	lua_Integer n = 0, max = 0;
	lua_pushnil(L);
	while (lua_next(L, idx)) {
		lua_pop(L, 1);
		if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1) {
			lua_pop(L, 1);
			return -1;
		}
		lua_Integer k = lua_tointeger(L, -1);
		if (k > max)
			max = k;
		n++;
	}
	return n == max ? n : -1;
}

static json_t *encode_table(struct encoder *e, int idx)
{
	lua_State *L = e->L;
	const void *t = lua_topointer(L, idx);
	for (int i = 0; i < e->depth; i++)
		if (e->tables[i] == t)
			return refuse(e, IN_TABLE, "a table that contains itself");
	if (e->depth == LUAJSON_MAX_DEPTH)
		return refuse(e, IN_TABLE, "nested deeper than %d tables", LUAJSON_MAX_DEPTH);
	if (!lua_checkstack(L, 4))
		return refuse(e, IN_TABLE, "out of Lua stack");
	e->tables[e->depth++] = t;

	json_t *out = NULL;
	lua_Integer n = array_length(L, idx);
	if (n > 0) {
		out = json_array();
		for (lua_Integer i = 1; i <= n; i++) {
			lua_rawgeti(L, idx, i);
			json_t *v = encode(e, lua_gettop(L));
			lua_pop(L, 1);
			if (!v || spend(e, 1) < 0) {
				if (!v) {
					lua_pushinteger(L, i);
					path_key(e, L, -1);
					lua_pop(L, 1);
				}
				json_decref(v);
				goto fail;
			}
			json_array_append_new(out, v);
		}
	} else {
		out = json_object();
		lua_pushnil(L);
		while (lua_next(L, idx)) {
			char key[64];
			const char *k;
			if (lua_type(L, -2) == LUA_TSTRING) {
				size_t len;
				k = lua_tolstring(L, -2, &len);
				if (!text_clean(k, (int)len) || strlen(k) != len) {
					lua_pop(L, 2);
					refuse(e, AT_VALUE, "a key that is not UTF-8 text");
					goto fail;
				}
			} else if (lua_type(L, -2) == LUA_TNUMBER) {
				if (lua_isinteger(L, -2))
					snprintf(key, sizeof key, "%lld",
						 (long long)lua_tointeger(L, -2));
				else
					snprintf(key, sizeof key, "%.17g", lua_tonumber(L, -2));
				k = key;
			} else {
				refuse(e, AT_VALUE, "a table key of type %s", luaL_typename(L, -2));
				lua_pop(L, 2);
				goto fail;
			}
			json_t *v = encode(e, lua_gettop(L));
			if (!v || spend(e, strlen(k) + 4) < 0) {
				if (!v)
					path_key(e, L, -2);
				json_decref(v);
				lua_pop(L, 2);
				goto fail;
			}
			json_object_set_new(out, k, v);
			lua_pop(L, 1);
		}
	}
	e->depth--;
	return out;
fail:
	json_decref(out);
	return NULL;
}

static json_t *encode(struct encoder *e, int idx)
{
	lua_State *L = e->L;
	switch (lua_type(L, idx)) {
	case LUA_TNIL: return spend(e, 4) < 0 ? NULL : json_null();
	case LUA_TBOOLEAN: return spend(e, 5) < 0 ? NULL : json_boolean(lua_toboolean(L, idx));
	case LUA_TNUMBER:
		if (spend(e, 24) < 0)
			return NULL;
		if (lua_isinteger(L, idx))
			return json_integer((json_int_t)lua_tointeger(L, idx));
		double d = lua_tonumber(L, idx);
		/* JSON has no NaN or infinity, and null would pass for "no value" */
		if (!isfinite(d))
			return refuse(e, AT_VALUE, "not a finite number (%s)",
				      isnan(d) ? "NaN"
				      : d > 0  ? "inf"
					       : "-inf");
		return json_real(d);
	case LUA_TSTRING: {
		size_t len;
		const char *s = lua_tolstring(L, idx, &len);
		if (spend(e, len + 2) < 0)
			return NULL;
		json_t *v = json_stringn(s, len); /* NULL when not UTF-8 */
		if (!v)
			return refuse(e, AT_VALUE, "a string that is not UTF-8");
		return v;
	}
	case LUA_TTABLE: return encode_table(e, lua_absindex(L, idx));
	default:
		return refuse(e, AT_VALUE,
			      "a %s value (JSON holds tables, strings, numbers, booleans)",
			      luaL_typename(L, idx));
	}
}

json_t *luajson_encode(lua_State *L, int idx, char *why, size_t whylen)
{
	struct encoder e = { .L = L };
	json_t *out = encode(&e, lua_absindex(L, idx));
	if (out)
		return out;
	/* a path starts with its first key, not the dot before it */
	e.path[e.pathlen] = '\0';
	const char *path = e.path + (e.path[0] == '.' && strncmp(e.path, "...", 3));
	if (!e.pathlen || e.placing == NOWHERE)
		snprintf(why, whylen, "%s", e.reason);
	else if (e.placing == IN_TABLE)
		snprintf(why, whylen, "%s (at %s)", e.reason, path);
	else
		snprintf(why, whylen, "%s: %s", path, e.reason);
	return NULL;
}
