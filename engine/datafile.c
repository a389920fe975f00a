/*
 * datafile.c — running a Lua data file (datafile.h) and noting where each
 * of its keys was set.
 *
 * Globals: the chunk's _ENV stays empty (the values live in a table of
 * their own), so every assignment to a global, a second one to the same
 * name included, goes through __newindex, which notes the line.
 *
 * Keys inside tables have no such hook. Instead a line hook looks, whenever
 * a new line starts (and when a function returns), at the tables in the
 * registers of the running functions, and notes each key it has not seen, or
 * whose value changed, with the line that just ran; each table is also noted
 * with the line it was first seen on, the line its constructor ran on. So a
 * key is noted at the line its value ends on: for `key = value` on one
 * line, that line. The state's extra space points at its struct datafile,
 * which the hook, the allocator and the metamethods share.
 */
#include "datafile.h"

#include "util.h"

#include <lauxlib.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LINES_KEY   "rollcall.datafile.lines"  /* table -> { key -> line } */
#define SEEN_KEY    "rollcall.datafile.seen"   /* table -> { key -> value } */
#define STARTS_KEY  "rollcall.datafile.starts" /* table -> line first seen */
#define TRACK_DEPTH 16

struct datafile {
	struct datafile_spec spec;
	size_t used, limit; /* bytes of Lua memory */
	int over;	    /* an allocation was refused */
	long budget;	    /* registers and keys still to look at */
	int line;	    /* the line running since the last look */
};

static struct datafile *datafile_of(lua_State *L)
{
	return *(struct datafile **)lua_getextraspace(L);
}

/* ---- where each key was set ---- */

/* Push registry[reg][t] (t an absolute index), creating it if need be. */
static void track_entry(lua_State *L, const char *reg, int t)
{
	lua_getfield(L, LUA_REGISTRYINDEX, reg);
	lua_pushvalue(L, t);
	if (lua_rawget(L, -2) != LUA_TTABLE) {
		lua_pop(L, 1);
		lua_newtable(L);
		lua_pushvalue(L, t);
		lua_pushvalue(L, -2);
		lua_rawset(L, -4);
	}
	lua_remove(L, -2);
}

/* The line the table at idx was first seen on, or 0. */
static int table_start(lua_State *L, int idx)
{
	idx = lua_absindex(L, idx);
	lua_getfield(L, LUA_REGISTRYINDEX, STARTS_KEY);
	lua_pushvalue(L, idx);
	lua_rawget(L, -2);
	int line = (int)lua_tointeger(L, -1);
	lua_pop(L, 2);
	return line;
}

static int same_value(lua_State *L, int a, int b)
{
	if (lua_rawequal(L, a, b))
		return 1;
	/* NaN is never equal to itself, yet it did not change */
	return lua_type(L, a) == LUA_TNUMBER && lua_type(L, b) == LUA_TNUMBER &&
	       lua_tonumber(L, a) != lua_tonumber(L, a) && lua_tonumber(L, b) != lua_tonumber(L, b);
}

/* Note the table at t: its first line, and every new or changed key with
 * line, descending into new table values (a table built and stored within
 * one line is seen only through its parent). */
static void track_table(lua_State *L, struct datafile *d, int t, int line, int depth)
{
	t = lua_absindex(L, t);
	if (d->budget <= 0 || depth > TRACK_DEPTH)
		return;
	luaL_checkstack(L, 8, "noting the lines of keys");
	if (!table_start(L, t)) {
		lua_getfield(L, LUA_REGISTRYINDEX, STARTS_KEY);
		lua_pushvalue(L, t);
		lua_pushinteger(L, line);
		lua_rawset(L, -3);
		lua_pop(L, 1);
	}
	track_entry(L, LINES_KEY, t);
	int lines = lua_gettop(L);
	track_entry(L, SEEN_KEY, t);
	int seen = lua_gettop(L);
	lua_pushnil(L);
	while (lua_next(L, t)) {
		if (--d->budget < 0) {
			lua_pop(L, 2);
			break;
		}
		lua_pushvalue(L, -2);
		lua_rawget(L, seen);
		int same = same_value(L, -1, -2);
		lua_pop(L, 1);
		if (!same) {
			lua_pushvalue(L, -2);
			lua_pushvalue(L, -2);
			lua_rawset(L, seen);
			lua_pushvalue(L, -2);
			lua_pushinteger(L, line);
			lua_rawset(L, lines);
			if (lua_istable(L, -1))
				track_table(L, d, -1, line, depth + 1);
		}
		lua_pop(L, 1);
	}
	lua_pop(L, 2);
}

/* Look at the tables in the registers of every running Lua function. In a
 * hook, level 0 is the hooked function and its registers are the first top0
 * stack slots (past them are this C code's own values). */
static void track_frames(lua_State *L, struct datafile *d, int top0, int line)
{
	lua_Debug ar;
	/* lua_getstack walks the call chain: level n costs n */
	for (int level = 0; (d->budget -= level) > 0 && lua_getstack(L, level, &ar); level++) {
		if (!lua_getinfo(L, "S", &ar) || ar.what[0] == 'C')
			continue;
		for (int n = 1; (level > 0 || n <= top0) && d->budget > 0; n++) {
			if (!lua_getlocal(L, &ar, n))
				break;
			d->budget--;
			if (lua_istable(L, -1))
				track_table(L, d, -1, line, 0);
			lua_pop(L, 1);
		}
	}
}

static void hook(lua_State *L, lua_Debug *ar)
{
	struct datafile *d = datafile_of(L);
	if (ar->event == LUA_HOOKCOUNT) {
		luaL_where(L, 0); /* FILE:LINE of the loop */
		lua_pushfstring(L, "%s runs too long (it should only assign values)", d->spec.what);
		lua_concat(L, 2);
		lua_error(L);
	}
	track_frames(L, d, lua_gettop(L), d->line);
	if (ar->event == LUA_HOOKLINE) {
		d->line = ar->currentline;
	} else if (ar->event == LUA_HOOKRET) {
		lua_Debug caller; /* the caller carries on with its line */
		if (lua_getstack(L, 1, &caller) && lua_getinfo(L, "l", &caller) &&
		    caller.currentline > 0)
			d->line = caller.currentline;
	}
}

/* _ENV.__newindex (upvalue 1: the values): store the value and note the
 * line of this assignment. */
static int note_line(lua_State *L)
{
	struct datafile *d = datafile_of(L);
	lua_Debug ar;
	int line = d->line;
	if (lua_getstack(L, 1, &ar) && lua_getinfo(L, "l", &ar) && ar.currentline > 0)
		line = ar.currentline;
	lua_settop(L, 3);
	if (lua_type(L, 2) != LUA_TSTRING) /* _ENV[1] = ..., _ENV[nil] = ... */
		return luaL_error(L, "only names can be assigned (the keys are %s)", d->spec.names);
	track_frames(L, d, 0, line); /* keys set earlier on this line */
	lua_pushvalue(L, 2);
	lua_pushvalue(L, 3);
	lua_rawset(L, lua_upvalueindex(1));
	track_entry(L, LINES_KEY, lua_upvalueindex(1));
	lua_pushvalue(L, 2);
	lua_pushinteger(L, line);
	lua_rawset(L, -3);
	lua_pop(L, 1);
	if (lua_istable(L, 3))
		track_table(L, d, 3, line, 0);
	return 0;
}

/* _ENV.__index (upvalue 1: the values): a global set earlier, else an
 * error (there are no functions or libraries to read). */
static int lookup(lua_State *L)
{
	lua_pushvalue(L, 2);
	if (lua_rawget(L, lua_upvalueindex(1)) != LUA_TNIL)
		return 1;
	return luaL_error(L, "'%s' is not defined (%s holds only data)", lua_tostring(L, 2),
			  datafile_of(L)->spec.what);
}

int datafile_table_line(lua_State *L, int t)
{
	t = lua_absindex(L, t);
	int start = table_start(L, t), first = 0;
	if (!datafile_of(L)->spec.first_key_line)
		return start;
	lua_getfield(L, LUA_REGISTRYINDEX, LINES_KEY);
	lua_pushvalue(L, t);
	if (lua_rawget(L, -2) == LUA_TTABLE) {
		lua_pushnil(L);
		while (lua_next(L, -2)) { /* key, its line */
			int line = (int)lua_tointeger(L, -1);
			lua_pushvalue(L, -2);
			if (lua_rawget(L, t) == LUA_TTABLE && table_start(L, -1))
				line = table_start(L, -1);
			lua_pop(L, 1);
			if (lua_type(L, -2) == LUA_TSTRING && line > 0 && (!first || line < first))
				first = line;
			lua_pop(L, 1);
		}
	}
	lua_pop(L, 2);
	return first > start ? first : start;
}

int datafile_key_line(lua_State *L, int t, int k, int dflt)
{
	int line = 0;
	t = lua_absindex(L, t);
	k = lua_absindex(L, k);
	lua_pushvalue(L, k);
	if (lua_rawget(L, t) == LUA_TTABLE)
		line = datafile_table_line(L, -1);
	lua_pop(L, 1);
	if (!line) {
		lua_getfield(L, LUA_REGISTRYINDEX, LINES_KEY);
		lua_pushvalue(L, t);
		if (lua_rawget(L, -2) == LUA_TTABLE) {
			lua_pushvalue(L, k);
			lua_rawget(L, -2);
			line = (int)lua_tointeger(L, -1);
			lua_pop(L, 1);
		}
		lua_pop(L, 2);
	}
	return line ? line : dflt;
}

/* ---- memory ----
 *
 * The instruction budget stops a loop, not a file that needs no loop to
 * grow: each of forty lines `s = s .. s` doubles a string. So the state
 * counts its memory, and an allocation past the limit fails (Lua then
 * raises a memory error, which names no line; the hook's last line is
 * noted for the message). Shrinking always succeeds, as Lua requires. */
static void *datafile_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
	struct datafile *d = ud;
	size_t old = ptr ? osize : 0; /* with no block, osize is a type tag */
	if (nsize == 0) {
		free(ptr);
		d->used -= old;
		return NULL;
	}
	if (nsize > old && nsize - old > d->limit - d->used) {
		d->over = 1;
		return NULL;
	}
	void *p = realloc(ptr, nsize);
	if (p)
		d->used = d->used - old + nsize;
	return p;
}

lua_State *datafile_open(const struct datafile_spec *spec)
{
	struct datafile *d = xcalloc(1, sizeof *d);
	d->spec = *spec;
	d->limit = spec->memory;
	d->budget = spec->track_budget;
	lua_State *L = lua_newstate(datafile_alloc, d);
	if (!L) {
		free(d);
		return NULL;
	}
	*(struct datafile **)lua_getextraspace(L) = d;
	return L;
}

int datafile_run(lua_State *L, const char *path, const char *text, size_t len, char *err,
		 size_t errsize)
{
	struct datafile *d = datafile_of(L);
	lua_sethook(L, hook, LUA_MASKCOUNT | LUA_MASKLINE | LUA_MASKRET, d->spec.instructions);
	lua_newtable(L);
	lua_setfield(L, LUA_REGISTRYINDEX, LINES_KEY);
	lua_newtable(L);
	lua_setfield(L, LUA_REGISTRYINDEX, SEEN_KEY);
	lua_newtable(L);
	lua_setfield(L, LUA_REGISTRYINDEX, STARTS_KEY);
	char *chunk = xmalloc(strlen(path) + 2);
	chunk[0] = '@';
	strcpy(chunk + 1, path);
	int status = luaL_loadbufferx(L, text, len, chunk, "t");
	free(chunk);
	if (status == LUA_OK) {
		/* The chunk's _ENV: a table kept empty, so that every
		 * assignment goes through __newindex, which stores into the
		 * values table and notes the line; __index reads the values
		 * and refuses anything undefined (there are no functions). */
		lua_newtable(L); /* the values */
		int values = lua_gettop(L);
		lua_newtable(L); /* _ENV */
		lua_newtable(L);
		lua_pushvalue(L, values);
		lua_pushcclosure(L, note_line, 1);
		lua_setfield(L, -2, "__newindex");
		lua_pushvalue(L, values);
		lua_pushcclosure(L, lookup, 1);
		lua_setfield(L, -2, "__index");
		lua_setmetatable(L, -2);
		lua_setupvalue(L, values - 1, 1);
		lua_pushvalue(L, values - 1);
		/* Clear the stack slots the chunk's registers will use: the
		 * parser left its own tables there, which the line tracking
		 * would look through. */
		luaL_checkstack(L, 300, "clearing the stack");
		int top = lua_gettop(L);
		lua_settop(L, top + 300);
		lua_settop(L, top);
		status = lua_pcall(L, 0, 0, 0);
		if (status == LUA_OK) {
			lua_sethook(L, NULL, 0, 0);
			d->limit = SIZE_MAX;
			lua_remove(L, values - 1);
			return 0;
		}
	}
	if (status == LUA_ERRMEM || d->over) {
		char where[32] = ""; /* no line while the file was being parsed */
		if (d->line > 0)
			snprintf(where, sizeof where, ":%d", d->line);
		snprintf(
			err, errsize,
			"%s%s: %s needs more than %zu MiB of memory (it should only assign values)",
			path, where, d->spec.what, d->spec.memory >> 20);
	} else {
		const char *msg = lua_tostring(L, -1);
		snprintf(err, errsize, "%s", msg ? msg : "?");
	}
	return -1;
}

void datafile_close(lua_State *L)
{
	if (!L)
		return;
	struct datafile *d = datafile_of(L);
	lua_close(L); /* through datafile_alloc: d goes last */
	free(d);
}
