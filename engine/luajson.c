/*
 * luajson.c — Lua values to jansson values, bounded in depth and size, with
 * cycle detection through the stack of tables being converted.
 */
#include "luajson.h"

#include "util.h"

#include <lauxlib.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

struct encoder {
	lua_State *L;
	size_t bytes;
	int depth;
	const void *path[LUAJSON_MAX_DEPTH]; /* tables being converted, for cycles */
	char *why;
	size_t whylen;
};

#define REFUSE(e, ...)                                                                             \
	do {                                                                                       \
		snprintf((e)->why, (e)->whylen, __VA_ARGS__);                                      \
		return NULL;                                                                       \
	} while (0)

static json_t *encode(struct encoder *e, int idx);

static int spend(struct encoder *e, size_t n)
{
	e->bytes += n;
	if (e->bytes <= LUAJSON_MAX_BYTES)
		return 0;
	snprintf(e->why, e->whylen, "larger than %d bytes of JSON", LUAJSON_MAX_BYTES);
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
		if (e->path[i] == t)
			REFUSE(e, "a table that contains itself");
	if (e->depth == LUAJSON_MAX_DEPTH)
		REFUSE(e, "nested deeper than %d tables", LUAJSON_MAX_DEPTH);
	if (!lua_checkstack(L, 4))
		REFUSE(e, "out of Lua stack");
	e->path[e->depth++] = t;

	json_t *out = NULL;
	lua_Integer n = array_length(L, idx);
	if (n > 0) {
		out = json_array();
		for (lua_Integer i = 1; i <= n; i++) {
			lua_rawgeti(L, idx, i);
			json_t *v = encode(e, lua_gettop(L));
			lua_pop(L, 1);
			if (!v || spend(e, 1) < 0) {
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
					snprintf(e->why, e->whylen, "a key that is not UTF-8 text");
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
				snprintf(e->why, e->whylen, "a table key of type %s",
					 luaL_typename(L, -2));
				lua_pop(L, 2);
				goto fail;
			}
			json_t *v = encode(e, lua_gettop(L));
			if (!v || spend(e, strlen(k) + 4) < 0) {
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
		return isfinite(d) ? json_real(d) : json_null();
	case LUA_TSTRING: {
		size_t len;
		const char *s = lua_tolstring(L, idx, &len);
		if (spend(e, len + 2) < 0)
			return NULL;
		json_t *v = json_stringn(s, len); /* NULL when not UTF-8 */
		if (!v)
			REFUSE(e, "a string that is not UTF-8");
		return v;
	}
	case LUA_TTABLE: return encode_table(e, lua_absindex(L, idx));
	default:
		REFUSE(e, "a %s value (JSON holds tables, strings, numbers, booleans)",
		       luaL_typename(L, idx));
	}
}

json_t *luajson_encode(lua_State *L, int idx, char *why, size_t whylen)
{
	struct encoder e = { .L = L, .why = why, .whylen = whylen };
	return encode(&e, lua_absindex(L, idx));
}
