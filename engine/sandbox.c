/*
 * sandbox.c — the Lua sandbox. Shaped after Redis's script_lua.c: open the
 * few standard libraries allowed, keep only allow-listed names, then lock
 * the globals so that a read of anything else is an error.
 *
 * Why each guard:
 * - text chunks only: Lua bytecode is not verified and can corrupt memory;
 * - the counting allocator: a table that grows without end fails inside the
 *   state, not in the engine (note: when ptr is NULL, osize is a type tag);
 * - the count hook: a loop stops after its budget, and `stopped` makes every
 *   later hook and the sandbox's pcall raise again, so a script's own pcall
 *   cannot swallow the stop;
 * - math.randomseed is kept out of reach: the engine seeds each call so that
 *   a replay draws the same numbers.
 */
#include "sandbox.h"

#include "util.h"

#include <errno.h>
#include <lauxlib.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define HOOK_EVERY 1000	     /* instructions between count hooks */
#define MODULE_MAX (1 << 20) /* bytes in one required module */

/* Globals a policy may use (SPEC.md section 4), before the engine adds its
 * own API (policy, alert, ...). `pcall` and `require` are replaced below. */
static const char *const allowed_globals[] = {
	"string",   "table",	"math",		"utf8",		"pairs",  "ipairs", "select",
	"type",	    "tostring", "tonumber",	"error",	"assert", "pcall",  "next",
	"rawequal", "rawlen",	"setmetatable", "getmetatable", NULL,
};

/* Library members removed even though their library is allowed. */
static const struct {
	const char *library, *name;
} denied_members[] = {
	{ "string", "dump" },	  /* makes bytecode */
	{ "math", "randomseed" }, /* the engine seeds */
};

#define RANDOMSEED_KEY "rollcall.randomseed"
#define MODULES_KEY    "rollcall.modules"

struct sandbox *sandbox_of(lua_State *L)
{
	void *ud;
	lua_getallocf(L, &ud);
	return ud;
}

static void *counting_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
	struct sandbox *sb = ud;
	size_t old = ptr ? osize : 0; /* with ptr NULL, osize is a type tag */
	if (nsize == 0) {
		free(ptr);
		sb->memory -= old;
		return NULL;
	}
	if (nsize > old && sb->memory - old + nsize > sb->memory_limit)
		return NULL; /* Lua raises "not enough memory" */
	void *p = realloc(ptr, nsize);
	if (p)
		sb->memory = sb->memory - old + nsize;
	return p;
}

static void count_hook(lua_State *L, lua_Debug *ar)
{
	(void)ar;
	struct sandbox *sb = sandbox_of(L);
	sb->instructions += HOOK_EVERY;
	if (sb->stopped || sb->instructions > sb->instruction_limit) {
		sb->stopped = 1;
		luaL_error(L, "stopped: over the budget of %I instructions",
			   (lua_Integer)sb->instruction_limit);
	}
}

/* pcall that cannot catch a stop: over a budget or out of memory, the error
 * goes on up to the engine. */
static int sandbox_pcall(lua_State *L)
{
	luaL_checkany(L, 1);
	int status = lua_pcall(L, lua_gettop(L) - 1, LUA_MULTRET, 0);
	struct sandbox *sb = sandbox_of(L);
	if (status == LUA_ERRMEM)
		sb->stopped = 1;
	if (status != LUA_OK && sb->stopped)
		return lua_error(L);
	lua_pushboolean(L, status == LUA_OK);
	lua_insert(L, 1);
	return lua_gettop(L);
}

static int valid_module_name(const char *s)
{
	if (!*s || strlen(s) > 64)
		return 0;
	for (; *s; s++)
		if (!(*s >= 'a' && *s <= 'z') && !(*s >= 'A' && *s <= 'Z') &&
		    !(*s >= '0' && *s <= '9') && *s != '_')
			return 0;
	return 1;
}

/* require "name": scripts/name.lua, text only, loaded once per state. */
static int sandbox_require(lua_State *L)
{
	const char *name = luaL_checkstring(L, 1);
	struct sandbox *sb = sandbox_of(L);
	if (!valid_module_name(name))
		return luaL_error(L, "require \"%s\": module names are letters, digits and _",
				  name);
	lua_getfield(L, LUA_REGISTRYINDEX, MODULES_KEY);
	lua_getfield(L, -1, name);
	if (!lua_isnil(L, -1))
		return 1;
	lua_pop(L, 1);

	char path[4096], err[512];
	size_t len;
	snprintf(path, sizeof path, "%s/%s.lua", sb->scripts_dir, name);
	char *text = sandbox_read_file(path, MODULE_MAX, &len, err, sizeof err);
	if (!text)
		return luaL_error(L, "require \"%s\": %s", name, err);
	lua_pushfstring(L, "@%s", path);
	int status = luaL_loadbufferx(L, text, len, lua_tostring(L, -1), "t");
	free(text);
	if (status != LUA_OK)
		return lua_error(L);
	lua_pushstring(L, name);
	lua_call(L, 1, 1);
	if (lua_isnil(L, -1)) {
		lua_pop(L, 1);
		lua_pushboolean(L, 1);
	}
	lua_pushvalue(L, -1);
	lua_setfield(L, -4, name); /* modules[name] = result */
	return 1;
}

static int undefined_global(lua_State *L)
{
	return luaL_error(L, "undefined global '%s'", lua_tostring(L, 2));
}

int sandbox_open(struct sandbox *sb, const char *scripts_dir, size_t memory_limit,
		 long instruction_limit, char *err, size_t errlen)
{
	memset(sb, 0, sizeof *sb);
	sb->memory_limit = memory_limit ? memory_limit : SANDBOX_MEMORY_DEFAULT;
	sb->instruction_limit =
		instruction_limit ? instruction_limit : SANDBOX_INSTRUCTIONS_DEFAULT;
	sb->scripts_dir = xstrdup(scripts_dir ? scripts_dir : "scripts");
	sb->L = lua_newstate(counting_alloc, sb);
	if (!sb->L) {
		snprintf(err, errlen, "cannot create a Lua state");
		free(sb->scripts_dir);
		return -1;
	}
	lua_State *L = sb->L;
	static const luaL_Reg libraries[] = {
		{ LUA_GNAME, luaopen_base },	   { LUA_STRLIBNAME, luaopen_string },
		{ LUA_TABLIBNAME, luaopen_table }, { LUA_MATHLIBNAME, luaopen_math },
		{ LUA_UTF8LIBNAME, luaopen_utf8 },
	};
	for (size_t i = 0; i < sizeof libraries / sizeof *libraries; i++) {
		luaL_requiref(L, libraries[i].name, libraries[i].func, 1);
		lua_pop(L, 1);
	}

	/* Keep math.randomseed for the engine, then drop the denied members. */
	lua_getglobal(L, LUA_MATHLIBNAME);
	lua_getfield(L, -1, "randomseed");
	lua_setfield(L, LUA_REGISTRYINDEX, RANDOMSEED_KEY);
	lua_pop(L, 1);
	for (size_t i = 0; i < sizeof denied_members / sizeof *denied_members; i++) {
		lua_getglobal(L, denied_members[i].library);
		lua_pushnil(L);
		lua_setfield(L, -2, denied_members[i].name);
		lua_pop(L, 1);
	}

	/* Remove every global not on the allow-list. */
	lua_pushglobaltable(L);
	lua_newtable(L); /* names to remove: can't change a table while walking it */
	int n = 0;
	lua_pushnil(L);
	while (lua_next(L, -3)) {
		lua_pop(L, 1);
		int keep = 0;
		if (lua_type(L, -1) == LUA_TSTRING)
			for (int i = 0; allowed_globals[i]; i++)
				keep |= strcmp(lua_tostring(L, -1), allowed_globals[i]) == 0;
		if (!keep) {
			lua_pushvalue(L, -1);
			lua_rawseti(L, -3, ++n);
		}
	}
	for (int i = 1; i <= n; i++) {
		lua_rawgeti(L, -1, i);
		lua_pushnil(L);
		lua_rawset(L, -4);
	}
	lua_pop(L, 1);

	lua_pushcfunction(L, sandbox_pcall);
	lua_setfield(L, -2, "pcall");
	lua_pushcfunction(L, sandbox_require);
	lua_setfield(L, -2, "require");
	lua_newtable(L);
	lua_setfield(L, LUA_REGISTRYINDEX, MODULES_KEY);

	/* Strict globals: reading an undefined name is an error (typos). */
	lua_newtable(L);
	lua_pushcfunction(L, undefined_global);
	lua_setfield(L, -2, "__index");
	lua_setmetatable(L, -2);
	lua_pop(L, 1);

	lua_sethook(L, count_hook, LUA_MASKCOUNT, HOOK_EVERY);
	return 0;
}

void sandbox_close(struct sandbox *sb)
{
	if (sb->L) {
		/* Finalizers run at close: make any that loops stop at once. */
		sb->stopped = 1;
		sb->memory_limit = (size_t)-1; /* closing must never fail for memory */
		lua_close(sb->L);
	}
	free(sb->scripts_dir);
	memset(sb, 0, sizeof *sb);
}

static int traceback(lua_State *L)
{
	const char *msg = lua_tostring(L, 1);
	if (!msg)
		msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
	luaL_traceback(L, L, msg, 1);
	return 1;
}

int sandbox_call(struct sandbox *sb, int nargs, int nresults, char *err, size_t errlen)
{
	lua_State *L = sb->L;
	int base = lua_gettop(L) - nargs; /* the function */
	lua_pushcfunction(L, traceback);
	lua_insert(L, base);
	sb->instructions = 0;
	sb->stopped = 0;
	int status = lua_pcall(L, nargs, nresults, base);
	if (status != LUA_OK) {
		const char *msg = lua_tostring(L, -1);
		if (status == LUA_ERRMEM)
			snprintf(err, errlen, "stopped: over the memory budget of %zu bytes",
				 sb->memory_limit);
		else
			snprintf(err, errlen, "%s", msg ? msg : "error with no message");
		lua_settop(L, base - 1);
		sb->stopped = 0;
		return -1;
	}
	lua_remove(L, base);
	sb->stopped = 0;
	return 0;
}

int sandbox_run(struct sandbox *sb, const char *chunkname, const char *text, size_t len, char *err,
		size_t errlen)
{
	int status = luaL_loadbufferx(sb->L, text, len, chunkname, "t");
	if (status != LUA_OK) {
		snprintf(err, errlen, "%s", lua_tostring(sb->L, -1));
		lua_pop(sb->L, 1);
		return -1;
	}
	return sandbox_call(sb, 0, 0, err, errlen);
}

void sandbox_seed(struct sandbox *sb, uint64_t seed)
{
	lua_State *L = sb->L;
	lua_getfield(L, LUA_REGISTRYINDEX, RANDOMSEED_KEY);
	lua_pushinteger(L, (lua_Integer)seed);
	if (lua_pcall(L, 1, 0, 0) != LUA_OK)
		lua_pop(L, 1);
}

char *sandbox_read_file(const char *path, size_t limit, size_t *len, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	struct stat st;
	if (!f || fstat(fileno(f), &st) != 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		if (f)
			fclose(f);
		return NULL;
	}
	if (!S_ISREG(st.st_mode) || (size_t)st.st_size > limit) {
		snprintf(err, errlen, "%s: %s", path,
			 S_ISREG(st.st_mode) ? "file too large" : "not a regular file");
		fclose(f);
		return NULL;
	}
	char *text = xmalloc((size_t)st.st_size + 1);
	*len = fread(text, 1, (size_t)st.st_size, f);
	text[*len] = '\0';
	int bad = ferror(f);
	fclose(f);
	if (bad) {
		snprintf(err, errlen, "%s: read error", path);
		free(text);
		return NULL;
	}
	return text;
}
