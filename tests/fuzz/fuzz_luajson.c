/*
 * fuzz_luajson.c — libFuzzer target: evidence and data tables to JSON. The
 * input is a recipe that builds a Lua value — nested tables, array and hash
 * parts, cycles, NaN and infinities, integers at their limits, long strings
 * and bytes that are not UTF-8 — which luajson_encode must turn into JSON
 * or refuse with a reason, within its depth and size bounds.
 */
#include "luajson.h"

#include <lauxlib.h>
#include <lualib.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct recipe {
	const uint8_t *p, *end;
};

static int next(struct recipe *r)
{
	return r->p < r->end ? *r->p++ : 0;
}

/* Push one value made from the recipe; tables (depth-limited) refer back to
 * the tables being built at indices 1..depth of the stack for cycles. */
static void build(lua_State *L, struct recipe *r, int depth)
{
	int op = next(r);
	switch (op % 10) {
	case 0: lua_pushnil(L); break;
	case 1: lua_pushboolean(L, next(r) & 1); break;
	case 2: {
		static const double odd[] = { NAN, INFINITY, -INFINITY, 0.1, -0.0, 1e308, 5e-324 };
		lua_pushnumber(L, odd[next(r) % 7]);
		break;
	}
	case 3: {
		static const lua_Integer ints[] = { 0, -1, LUA_MAXINTEGER, LUA_MININTEGER,
						    1 << 30 };
		lua_pushinteger(L, ints[next(r) % 5]);
		break;
	}
	case 4: { /* bytes from the recipe, not necessarily UTF-8 */
		size_t n = (size_t)next(r);
		if (n > (size_t)(r->end - r->p))
			n = (size_t)(r->end - r->p);
		lua_pushlstring(L, (const char *)r->p, n);
		r->p += n;
		break;
	}
	case 5: { /* a long string: up to 2 MB, over the JSON bound */
		size_t n = (size_t)next(r) << 13;
		char *s = calloc(1, n + 1);
		memset(s, 'x', n);
		lua_pushlstring(L, s, n);
		free(s);
		break;
	}
	case 6: /* a table already being built: a cycle */
		if (depth > 0) {
			lua_pushvalue(L, 1 + next(r) % depth);
			break;
		}
		/* fall through */
	default: { /* a table with array and hash parts */
		if (depth >= 40 || lua_gettop(L) > 200) {
			lua_pushnil(L);
			break;
		}
		lua_newtable(L);
		int n = next(r) % 8;
		for (int i = 0; i < n && r->p < r->end; i++) {
			if (next(r) & 1) {
				build(L, r, depth + 1); /* key */
				if (lua_isnil(L, -1) || (lua_type(L, -1) == LUA_TNUMBER &&
							 isnan(lua_tonumber(L, -1)))) {
					lua_pop(L, 1);
					continue;
				}
			} else {
				lua_pushinteger(L, i + 1);
			}
			build(L, r, depth + 1); /* value */
			lua_rawset(L, -3);
		}
	}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	lua_State *L = luaL_newstate();
	struct recipe r = { data, data + size };
	char why[256] = "";
	lua_checkstack(L, 400);
	build(L, &r, 0);
	json_t *j = luajson_encode(L, -1, why, sizeof why);
	if (j) {
		char *text = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
		if (!text || strlen(text) > 2 * LUAJSON_MAX_BYTES)
			abort(); /* encoded past its own bound */
		free(text);
		json_decref(j);
	} else if (!why[0]) {
		abort(); /* refused without a reason */
	}
	lua_close(L);
	return 0;
}
