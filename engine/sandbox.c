/*
 * sandbox.c — the Lua sandbox. Shaped after Redis's script_lua.c: open the
 * few standard libraries allowed, keep only what the allow-list names, then
 * lock the globals so that a read of anything else is an error.
 *
 * Why each guard:
 * - text chunks only: Lua bytecode is not verified and can corrupt memory;
 * - the counting allocator: a table that grows without end fails inside the
 *   state, not in the engine (note: when ptr is NULL, osize is a type tag).
 *   Lua runs no message handler for a memory error, so the allocator notes
 *   the stack when it refuses, and the log can say where the policy was;
 * - the count hook: a loop stops after its budget, and `stopped` makes every
 *   later hook and the sandbox's pcall raise again, so a script's own pcall
 *   cannot swallow the stop;
 * - costs: the hook never fires inside a C function, and one call of
 *   string.find, string.rep or table.move can loop for ever. Each library
 *   function whose work depends on its arguments is wrapped with a cost (the
 *   allow-list names it) charged to the budget before it runs, so no single
 *   call can do much more than the budget allows; bytes allocated are
 *   charged too, which covers what the VM copies (`..`);
 * - math.random starts from a fixed seed and math.randomseed is kept out of
 *   reach: the engine seeds each call so that a replay draws the same numbers.
 */
#include "sandbox.h"

#include "file.h"
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <lauxlib.h>
#include <lualib.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define HOOK_EVERY 1000	     /* instructions between count hooks */
#define MODULE_MAX (1 << 20) /* bytes in one required module */
#define BULK_BYTES 64	     /* bytes copied or compared with memcpy/memcmp per instruction */

#define RANDOMSEED_KEY "rollcall.randomseed"
#define MODULES_KEY    "rollcall.modules"

struct sandbox *sandbox_of(lua_State *L)
{
	void *ud;
	lua_getallocf(L, &ud);
	return ud;
}

/* ---- the deadline: a watchdog thread and a signal ----
 *
 * The instruction budget is what policies are held to, reproducibly. But
 * the count hook never fires inside one VM instruction or a C function,
 * and some do unbounded work the count cannot see (comparing two long
 * strings, a call that copies a huge vararg list). So every call also has
 * a wall-clock deadline: a watchdog thread looks at the calls under way
 * every WATCH_MS, and signals the thread of one that is late. The handler
 * only sets a hook to fire at the next instruction (lua_sethook may be
 * called from a signal handler: lua.c stops a script on SIGINT this way),
 * and the hook stops the call. A call that ends in time costs one read of
 * the monotonic clock (vDSO, no system call) and two atomic stores.
 */

#define WATCH_MS    50 /* how often the watchdog looks */
#define WATCH_SLOTS 64 /* threads that may run policies at once */

static struct watch_slot {
	atomic_int used; /* by a live thread (evaluation threads come and go) */
	pthread_t thread;
	atomic_llong started;	/* ns on the monotonic clock; 0 between calls */
	atomic_llong signalled; /* the `started` of the call last signalled */
} watch_slots[WATCH_SLOTS];
static pthread_once_t watch_once = PTHREAD_ONCE_INIT;
static pthread_key_t watch_key; /* its destructor gives a thread's slot back */
static int watch_signal;

static _Thread_local struct sandbox *running; /* the call under way on this thread */
static _Thread_local struct watch_slot *my_slot;

static long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void count_hook(lua_State *L, lua_Debug *ar);

static void on_late(int sig)
{
	(void)sig;
	struct sandbox *sb = running;
	struct watch_slot *slot = my_slot;
	/* a signal meant for a call that has ended since finds another one,
	 * or none: only the call it was meant for stops */
	if (!sb || !slot || atomic_load(&slot->signalled) != atomic_load(&slot->started))
		return;
	sb->late = 1;
	lua_sethook(sb->L, count_hook, LUA_MASKCOUNT, 1);
}

static void *watch(void *arg)
{
	(void)arg;
	for (;;) {
		struct timespec nap = { 0, WATCH_MS * 1000000L };
		nanosleep(&nap, NULL);
		long long now = now_ns();
		for (int i = 0; i < WATCH_SLOTS; i++) {
			struct watch_slot *w = &watch_slots[i];
			if (!atomic_load(&w->used))
				continue;
			long long started = atomic_load(&w->started);
			if (started && now - started > (long long)(SANDBOX_CALL_SECONDS * 1e9) &&
			    atomic_load(&w->signalled) != started) {
				atomic_store(&w->signalled, started);
				pthread_kill(w->thread, watch_signal);
			}
		}
	}
	return NULL;
}

static void watch_release(void *slot)
{
	struct watch_slot *w = slot;
	atomic_store(&w->started, 0);
	atomic_store(&w->used, 0);
}

static void watch_start(void)
{
	struct sigaction sa = { 0 };
	sa.sa_handler = on_late;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	watch_signal = SIGRTMIN + 4;
	pthread_attr_t attr;
	pthread_t t;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_key_create(&watch_key, watch_release) != 0 ||
	    sigaction(watch_signal, &sa, NULL) != 0 || pthread_create(&t, &attr, watch, NULL) != 0)
		watch_signal = 0; /* no deadline: the instruction budget still holds */
	pthread_attr_destroy(&attr);
}

/* This thread's slot, taken on its first call; NULL if all are taken. */
static struct watch_slot *watch_slot(void)
{
	if (my_slot)
		return my_slot;
	pthread_once(&watch_once, watch_start);
	if (!watch_signal)
		return NULL;
	for (int i = 0; i < WATCH_SLOTS; i++) {
		int free_slot = 0;
		struct watch_slot *w = &watch_slots[i];
		if (!atomic_compare_exchange_strong(&w->used, &free_slot, 1))
			continue;
		/* the watchdog reads `thread` only once `started` is set */
		w->thread = pthread_self();
		atomic_store(&w->signalled, 0);
		pthread_setspecific(watch_key, w); /* given back when the thread ends */
		return my_slot = w;
	}
	return NULL; /* more threads than slots: the instruction budget still holds */
}

static void count_hook(lua_State *L, lua_Debug *ar)
{
	(void)ar;
	struct sandbox *sb = sandbox_of(L);
	sb->instructions += HOOK_EVERY;
	if (sb->late) {
		sb->stopped = 1;
		luaL_error(L, "stopped: over %d s of wall-clock time in one call",
			   (int)SANDBOX_CALL_SECONDS);
	}
	if (sb->stopped || sb->instructions > sb->instruction_limit) {
		sb->stopped = 1;
		luaL_error(L, "stopped: over the budget of %I instructions",
			   (lua_Integer)sb->instruction_limit);
	}
}

static double budget_left(const struct sandbox *sb)
{
	return (double)sb->instruction_limit - (double)sb->instructions;
}

/* Charge work a C function is about to do. A call that would go over the
 * budget is stopped before it starts, as a loop is by the hook. */
void sandbox_charge(lua_State *L, const char *what, double cost)
{
	struct sandbox *sb = sandbox_of(L);
	if (sb->stopped || cost > budget_left(sb)) {
		char need[32];
		snprintf(need, sizeof need, "%.3g", cost);
		sb->stopped = 1;
		luaL_error(L,
			   "stopped: %s would go over the budget of %I instructions (it needs %s)",
			   what, (lua_Integer)sb->instruction_limit, need);
	}
	sb->instructions += (long)cost;
}

/* ---- what a library call costs: one instruction per character scanned,
 * value moved or pattern step; BULK_BYTES per instruction for memcpy ---- */

/* Lua's character classes (manual section 6.4.1): does %cl match c? Any
 * other character after % stands for itself. */
static int class_matches(int cl, int c)
{
	int r;
	switch (tolower(cl)) {
	case 'a': r = isalpha(c); break;
	case 'c': r = iscntrl(c); break;
	case 'd': r = isdigit(c); break;
	case 'g': r = isgraph(c); break;
	case 'l': r = islower(c); break;
	case 'p': r = ispunct(c); break;
	case 's': r = isspace(c); break;
	case 'u': r = isupper(c); break;
	case 'w': r = isalnum(c); break;
	case 'x': r = isxdigit(c); break;
	case 'z': r = c == 0; break; /* deprecated, still read by Lua 5.4 */
	default: return cl == c;
	}
	return islower(cl) ? r != 0 : r == 0;
}

/* Does the one-character item it[0..len) (".", "%a", "[set]" or a plain
 * character) match c? */
static int item_matches(const unsigned char *it, size_t len, int c)
{
	if (it[0] == '.')
		return 1;
	if (it[0] == '%')
		return class_matches(it[1], c);
	if (it[0] != '[')
		return it[0] == c;
	const unsigned char *p = it + 1, *end = it + len - 1; /* between [ and ] */
	int in = 1;
	if (*p == '^') {
		in = 0;
		p++;
	}
	for (; p < end; p++) {
		if (*p == '%' && p + 1 < end) {
			if (class_matches(*++p, c))
				return in;
		} else if (p + 2 < end && p[1] == '-') {
			if (p[0] <= c && c <= p[2])
				return in;
			p += 2;
		} else if (*p == c) {
			return in;
		}
	}
	return !in;
}

/* Where the one-character item at p[i] ends, read as Lua reads it (a set
 * runs to the first ] after its first character), or 0 if the pattern is
 * malformed there. */
static size_t item_end(const char *p, size_t m, size_t i)
{
	if (p[i] == '%')
		return i + 1 < m ? i + 2 : 0;
	if (p[i] != '[')
		return i + 1;
	if (++i < m && p[i] == '^')
		i++;
	do {
		if (i >= m)
			return 0;
		if (p[i++] == '%' && i < m)
			i++;
	} while (i >= m || p[i] != ']');
	return i + 1;
}

/* The longest run of characters of s that one item matches. */
static size_t longest_run(const char *s, size_t n, const unsigned char *it, size_t len)
{
	if (it[0] == '.')
		return n;
	size_t best = 0, run = 0;
	for (size_t i = 0; i < n; i++) {
		run = item_matches(it, len, (unsigned char)s[i]) ? run + 1 : 0;
		if (run > best)
			best = run;
	}
	return best;
}

/*
 * The most steps matching pattern p against subject s can take. Lua's
 * matcher backtracks with no limit of its own: string.rep("a*", 30) .. "b"
 * against 30 a's takes about 31^30 steps, so this is charged before it runs.
 *
 * A match is tried at each of the n + 1 starts, or one if anchored by ^. At
 * one start, an item quantified with * + or - is tried at each length up to
 * the longest run of characters it matches anywhere in s, and one with ? at
 * two: the tries multiply. Each try walks the pattern once (a set costs its
 * length), and %b and back-references (%1) can each scan s. Finding the runs
 * is work too, skipped when it alone is over the budget.
 */
static double pattern_cost(lua_State *L, const char *s, size_t n, const char *p, size_t m,
			   int caret_anchors)
{
	double scan = ((double)n + 1) * (double)m;
	if (scan > budget_left(sandbox_of(L)))
		return scan;
	double starts = (double)n + 1, tries = 1, walk = 2 * ((double)m + 1);
	size_t i = 0;
	if (caret_anchors && m > 0 && p[0] == '^') {
		starts = 1;
		i = 1;
	}
	while (i < m) {
		if (p[i] == '(' || p[i] == ')' || (p[i] == '$' && i + 1 == m)) {
			i++;
			continue;
		}
		if (p[i] == '%' && i + 1 < m &&
		    (p[i + 1] == 'b' || isdigit((unsigned char)p[i + 1]))) {
			walk += (double)n;
			i += p[i + 1] == 'b' ? 4 : 2;
			continue;
		}
		int frontier = p[i] == '%' && i + 1 < m && p[i + 1] == 'f'; /* %f[set]: no suffix */
		if (frontier)
			i += 2;
		size_t end = i < m ? item_end(p, m, i) : 0;
		if (!end)
			break; /* malformed: Lua raises an error when it gets here */
		if (!frontier && end < m && (p[end] == '*' || p[end] == '+' || p[end] == '-')) {
			tries *= (double)longest_run(s, n, (const unsigned char *)p + i, end - i) +
				 1;
			end++;
		} else if (!frontier && end < m && p[end] == '?') {
			tries *= 2;
			end++;
		}
		i = end;
	}
	return scan + starts * tries * walk;
}

/* How many of the positions i..j (Lua's rules for negative and
 * out-of-range positions) lie in a string of len bytes. */
static double span(lua_Integer i, lua_Integer j, size_t len)
{
	lua_Integer l = (lua_Integer)len;
	if (i < 0)
		i = i < -l ? 1 : l + i + 1;
	else if (i == 0)
		i = 1;
	if (j < 0)
		j = j < -l ? 0 : l + j + 1;
	else if (j > l)
		j = l;
	return j >= i ? (double)j - (double)i + 1 : 0;
}

/* A list function reads #t raw here and again inside Lua, so a __len that
 * could answer differently the second time is refused. */
static void no_len_metamethod(lua_State *L, const char *name)
{
	if (luaL_getmetafield(L, 1, "__len") != LUA_TNIL)
		luaL_error(L, "%s: not for a table with a __len metamethod (in the sandbox)", name);
}

/* Each cost function reads the arguments as the function itself will (so
 * an argument error reads the same), and returns the work it will do. */
typedef double cost_fn(lua_State *L, const char *name);

/* Lua runs __gc finalizers with hooks off (no budget, no deadline, no
 * signal can stop them) and at any moment an allocation collects, even
 * while the engine holds no call; __close runs while an error unwinds. So
 * a metatable may not carry either: setmetatable refuses it, and Lua
 * marks an object for finalization only in setmetatable, so a __gc added
 * to the metatable later is never called. */
static double check_metatable(lua_State *L, const char *name)
{
	static const char *const refused[] = { "__gc", "__close" };
	if (lua_type(L, 2) != LUA_TTABLE)
		return 1;
	for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) {
		lua_pushstring(L, refused[i]);
		int set = lua_rawget(L, 2) != LUA_TNIL;
		lua_pop(L, 1);
		if (set)
			luaL_error(L, "%s: a %s metamethod is not allowed in the sandbox", name,
				   refused[i]);
	}
	return 1;
}

static double cost_args(lua_State *L, const char *name)
{
	(void)name;
	return 1 + lua_gettop(L);
}

static double cost_length(lua_State *L, const char *name)
{
	(void)name;
	size_t len;
	luaL_checklstring(L, 1, &len);
	return 1 + (double)len;
}

static double cost_tonumber(lua_State *L, const char *name)
{
	(void)name;
	return 1 + (lua_type(L, 1) == LUA_TSTRING ? (double)lua_rawlen(L, 1) : 0);
}

static double cost_rawequal(lua_State *L, const char *name)
{
	(void)name;
	if (lua_type(L, 1) != LUA_TSTRING || lua_type(L, 2) != LUA_TSTRING)
		return 1;
	size_t a = lua_rawlen(L, 1), b = lua_rawlen(L, 2);
	return 1 + (double)(a < b ? a : b) / BULK_BYTES;
}

static double cost_byte(lua_State *L, const char *name)
{
	(void)name;
	size_t len;
	luaL_checklstring(L, 1, &len);
	lua_Integer i = luaL_optinteger(L, 2, 1);
	return 1 + span(i, luaL_optinteger(L, 3, i), len);
}

/* string.rep loops n times even when s and sep are empty and it makes
 * nothing. A result that cannot fit in memory is refused as such. */
static double cost_rep(lua_State *L, const char *name)
{
	size_t len, lsep;
	luaL_checklstring(L, 1, &len);
	lua_Integer n = luaL_checkinteger(L, 2);
	luaL_optlstring(L, 3, "", &lsep);
	if (n <= 0)
		return 1;
	struct sandbox *sb = sandbox_of(L);
	double size = (double)n * (double)len + ((double)n - 1) * (double)lsep;
	if (size > (double)sb->memory_limit) {
		char bytes[32];
		snprintf(bytes, sizeof bytes, "%.0f", size);
		sb->stopped = 1;
		luaL_error(L,
			   "stopped: over the memory budget of %I bytes (%s would make %s bytes)",
			   (lua_Integer)sb->memory_limit, name, bytes);
	}
	return (double)n;
}

static double cost_find(lua_State *L, const char *name)
{
	(void)name;
	size_t n, m;
	const char *s = luaL_checklstring(L, 1, &n);
	const char *p = luaL_checklstring(L, 2, &m);
	if (lua_toboolean(L, 4)) /* plain: memchr, then memcmp at each candidate */
		return ((double)n + 1) * (1 + (double)m / BULK_BYTES);
	return pattern_cost(L, s, n, p, m, 1);
}

static double cost_match(lua_State *L, const char *name)
{
	(void)name;
	size_t n, m;
	const char *s = luaL_checklstring(L, 1, &n);
	const char *p = luaL_checklstring(L, 2, &m);
	return pattern_cost(L, s, n, p, m, 1);
}

/* The whole scan, paid when the iterator is made (see gmatch_step). In
 * gmatch a leading ^ is not an anchor. */
static double cost_gmatch(lua_State *L, const char *name)
{
	(void)name;
	size_t n, m;
	const char *s = luaL_checklstring(L, 1, &n);
	const char *p = luaL_checklstring(L, 2, &m);
	return pattern_cost(L, s, n, p, m, 0);
}

/* The scan, and at each of up to n + 1 matches the replacement string,
 * whose %1 copies a capture (a number as text is under 32 characters). */
static double cost_gsub(lua_State *L, const char *name)
{
	(void)name;
	size_t n, m;
	const char *s = luaL_checklstring(L, 1, &n);
	const char *p = luaL_checklstring(L, 2, &m);
	int t = lua_type(L, 3);
	double each = t == LUA_TSTRING ? (double)lua_rawlen(L, 3) : t == LUA_TNUMBER ? 32 : 1;
	return pattern_cost(L, s, n, p, m, 1) + ((double)n + 1) * (1 + each);
}

/* string.format walks its format and reads each string argument (%q
 * escapes it a character at a time); what it writes is charged as
 * allocated. */
static double cost_format(lua_State *L, const char *name)
{
	(void)name;
	double cost = 1;
	for (int i = 1; i <= lua_gettop(L); i++)
		cost += lua_type(L, i) == LUA_TSTRING ? (double)lua_rawlen(L, i) : 1;
	return cost;
}

/* string.packsize and string.unpack walk the format; the sizes written in
 * it ("c1000", "!8") are bytes Lua may pad or copy one by one. */
static double cost_packsize(lua_State *L, const char *name)
{
	(void)name;
	size_t m;
	const char *f = luaL_checklstring(L, 1, &m);
	double cost = 1 + (double)m, size = 0;
	for (size_t i = 0; i < m; i++) {
		if (isdigit((unsigned char)f[i])) {
			size = size * 10 + (f[i] - '0');
		} else {
			cost += size;
			size = 0;
		}
	}
	return cost + size;
}

static double cost_pack(lua_State *L, const char *name)
{
	return cost_packsize(L, name) + cost_format(L, name);
}

static double cost_utf8_len(lua_State *L, const char *name)
{
	(void)name;
	size_t len;
	luaL_checklstring(L, 1, &len);
	return 1 + span(luaL_optinteger(L, 2, 1), luaL_optinteger(L, 3, -1), len);
}

static double cost_codepoint(lua_State *L, const char *name)
{
	(void)name;
	size_t len;
	luaL_checklstring(L, 1, &len);
	lua_Integer i = luaL_optinteger(L, 2, 1);
	return 1 + span(i, luaL_optinteger(L, 3, i), len);
}

/* Fill in #list as argument `arg` unless given, so that the function does
 * not read it (and run a __len) a second time. */
static lua_Integer last_index(lua_State *L, int arg)
{
	if (lua_isnoneornil(L, arg)) {
		lua_Integer n = luaL_len(L, 1);
		lua_settop(L, arg);
		lua_pushinteger(L, n);
		lua_replace(L, arg);
	}
	return luaL_checkinteger(L, arg);
}

static double cost_unpack(lua_State *L, const char *name)
{
	(void)name;
	lua_Integer i = luaL_optinteger(L, 2, 1), j = last_index(L, 3);
	return 1 + (j >= i ? (double)j - (double)i + 1 : 0);
}

static double cost_concat(lua_State *L, const char *name)
{
	(void)name;
	if (lua_type(L, 1) != LUA_TTABLE)
		return 1; /* Lua's own argument error follows */
	size_t lsep;
	luaL_optlstring(L, 2, "", &lsep);
	lua_Integer i = luaL_optinteger(L, 3, 1), j = last_index(L, 4);
	double n = j >= i ? (double)j - (double)i + 1 : 0;
	return 1 + n * (1 + (double)lsep / BULK_BYTES);
}

static double cost_move(lua_State *L, const char *name)
{
	(void)name;
	lua_Integer f = luaL_checkinteger(L, 2), e = luaL_checkinteger(L, 3);
	return 1 + (e >= f ? (double)e - (double)f + 1 : 0);
}

/* table.insert(t, pos, v) and table.remove(t, pos) shift the elements
 * above pos by one. */
static double cost_insert(lua_State *L, const char *name)
{
	if (lua_type(L, 1) != LUA_TTABLE)
		return 1;
	no_len_metamethod(L, name);
	double n = (double)lua_rawlen(L, 1);
	int isnum = 0;
	lua_Integer pos = lua_gettop(L) == 3 ? lua_tointegerx(L, 2, &isnum) : 0;
	return 1 + (isnum && pos >= 1 && pos <= n + 1 ? n + 1 - (double)pos : 0);
}

static double cost_remove(lua_State *L, const char *name)
{
	if (lua_type(L, 1) != LUA_TTABLE)
		return 1;
	no_len_metamethod(L, name);
	double n = (double)lua_rawlen(L, 1);
	int isnum = 0;
	lua_Integer pos = lua_isnoneornil(L, 2) ? 0 : lua_tointegerx(L, 2, &isnum);
	return 1 + (isnum && pos >= 1 && pos <= n ? n - (double)pos : 0);
}

/* About 2 n log2 n comparisons; without a comparison function Lua
 * compares strings with strcoll, so their length counts. */
static double cost_sort(lua_State *L, const char *name)
{
	if (lua_type(L, 1) != LUA_TTABLE)
		return 1;
	no_len_metamethod(L, name);
	double n = (double)lua_rawlen(L, 1), longest = 0;
	if (n < 2)
		return 1;
	if (n > budget_left(sandbox_of(L)))
		return n; /* over the budget anyway: don't look at the strings */
	if (lua_isnoneornil(L, 2))
		for (lua_Integer i = 1; i <= (lua_Integer)n; i++) {
			if (lua_rawgeti(L, 1, i) == LUA_TSTRING && lua_rawlen(L, -1) > longest)
				longest = (double)lua_rawlen(L, -1);
			lua_pop(L, 1);
		}
	return n + 2 * n * log2(n) * (1 + longest / BULK_BYTES);
}

/* ---- iterators returned by string.gmatch and utf8.codes ---- */

/* Upvalues of a step: Lua's iterator, its state, the cost of one scan. */
enum { STEP_PAID, STEP_UNPAID, STEP_DONE };

/* The scan of string.gmatch's iterator was paid for when gmatch was called,
 * but Lua's iterator resumes where it stood each time: after the end it
 * would scan the rest of the subject again for nothing, and after an error
 * (caught by pcall) the same stretch again. So: nothing after the end, and
 * after an error another scan is charged. */
static int gmatch_step(lua_State *L)
{
	lua_Integer state = lua_tointeger(L, lua_upvalueindex(2));
	if (state == STEP_DONE)
		return 0;
	if (state == STEP_UNPAID)
		sandbox_charge(L, "string.gmatch", lua_tonumber(L, lua_upvalueindex(3)));
	lua_pushinteger(L, STEP_UNPAID); /* until Lua's iterator returns */
	lua_replace(L, lua_upvalueindex(2));
	lua_settop(L, 0);
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_call(L, 0, LUA_MULTRET);
	lua_pushinteger(L, lua_gettop(L) > 0 ? STEP_PAID : STEP_DONE);
	lua_replace(L, lua_upvalueindex(2));
	return lua_gettop(L);
}

/* Before each character, utf8.codes's iterator skips continuation bytes:
 * over a long run of them one call scans them all. */
static int codes_step(lua_State *L)
{
	size_t len;
	const char *s = luaL_checklstring(L, 1, &len);
	lua_Integer i = lua_tointeger(L, 2);
	double run = 0;
	for (size_t k = (size_t)i; i >= 0 && k < len && ((unsigned char)s[k] & 0xC0) == 0x80; k++)
		run++;
	sandbox_charge(L, "utf8.codes", 1 + run);
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_insert(L, 1);
	lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
	return lua_gettop(L);
}

/* ---- the allow-list ---- */

/*
 * Everything a policy may reach (docs/POLICIES.md): a global by name, a
 * library's member as "library.name"; anything else is removed. `cost`
 * (NULL when a call's work does not depend on its arguments) wraps the
 * function so that its work is charged before it runs; `step` also wraps
 * the iterator it returns. string.dump (bytecode) and math.randomseed (the
 * engine seeds) are left out on purpose.
 */
static const struct allowed {
	const char *name;
	cost_fn *cost;
	lua_CFunction step;
} allow_list[] = {
	{ "assert", cost_args, NULL },
	{ "error", NULL, NULL },
	{ "getmetatable", NULL, NULL },
	{ "ipairs", NULL, NULL },
	{ "next", NULL, NULL },
	{ "pairs", NULL, NULL },
	{ "pcall", NULL, NULL }, /* replaced by sandbox_pcall */
	{ "rawequal", cost_rawequal, NULL },
	{ "rawlen", NULL, NULL },
	{ "select", cost_args, NULL },
	{ "setmetatable", check_metatable, NULL },
	{ "tonumber", cost_tonumber, NULL },
	{ "tostring", NULL, NULL },
	{ "type", NULL, NULL },

	{ "string.byte", cost_byte, NULL },
	{ "string.char", cost_args, NULL },
	{ "string.find", cost_find, NULL },
	{ "string.format", cost_format, NULL },
	{ "string.gmatch", cost_gmatch, gmatch_step },
	{ "string.gsub", cost_gsub, NULL },
	{ "string.len", NULL, NULL },
	{ "string.lower", cost_length, NULL },
	{ "string.match", cost_match, NULL },
	{ "string.pack", cost_pack, NULL },
	{ "string.packsize", cost_packsize, NULL },
	{ "string.rep", cost_rep, NULL },
	{ "string.reverse", cost_length, NULL },
	{ "string.sub", NULL, NULL },
	{ "string.unpack", cost_packsize, NULL },
	{ "string.upper", cost_length, NULL },

	{ "table.concat", cost_concat, NULL },
	{ "table.insert", cost_insert, NULL },
	{ "table.move", cost_move, NULL },
	{ "table.pack", cost_args, NULL },
	{ "table.remove", cost_remove, NULL },
	{ "table.sort", cost_sort, NULL },
	{ "table.unpack", cost_unpack, NULL },

	{ "math.abs", NULL, NULL },
	{ "math.ceil", NULL, NULL },
	{ "math.cos", NULL, NULL },
	{ "math.deg", NULL, NULL },
	{ "math.exp", NULL, NULL },
	{ "math.floor", NULL, NULL },
	{ "math.fmod", NULL, NULL },
	{ "math.huge", NULL, NULL },
	{ "math.log", NULL, NULL },
	{ "math.max", cost_args, NULL },
	{ "math.maxinteger", NULL, NULL },
	{ "math.min", cost_args, NULL },
	{ "math.mininteger", NULL, NULL },
	{ "math.modf", NULL, NULL },
	{ "math.pi", NULL, NULL },
	{ "math.rad", NULL, NULL },
	{ "math.random", NULL, NULL },
	{ "math.sin", NULL, NULL },
	{ "math.sqrt", NULL, NULL },
	{ "math.tan", NULL, NULL },
	{ "math.tointeger", NULL, NULL },
	{ "math.type", NULL, NULL },
	{ "math.ult", NULL, NULL },

	{ "utf8.char", cost_args, NULL },
	{ "utf8.charpattern", NULL, NULL },
	{ "utf8.codepoint", cost_codepoint, NULL },
	{ "utf8.codes", NULL, codes_step },
	{ "utf8.len", cost_utf8_len, NULL },
	{ "utf8.offset", cost_length, NULL },
};

#define ALLOWED (sizeof allow_list / sizeof *allow_list)

/* The entry for global `name` (library NULL) or for library.name. */
static const struct allowed *find_allowed(const char *library, const char *name)
{
	size_t n = library ? strlen(library) : 0;
	for (size_t i = 0; i < ALLOWED; i++) {
		const char *a = allow_list[i].name;
		if (library ? strncmp(a, library, n) == 0 && a[n] == '.' && !strcmp(a + n + 1, name)
			    : !strcmp(a, name))
			return &allow_list[i];
	}
	return NULL;
}

static int is_library(const char *name)
{
	size_t n = strlen(name);
	for (size_t i = 0; i < ALLOWED; i++)
		if (strncmp(allow_list[i].name, name, n) == 0 && allow_list[i].name[n] == '.')
			return 1;
	return 0;
}

/* A wrapped library function: charge its cost, then run Lua's function in
 * this same frame (it takes no upvalues, checked at open), so that its
 * argument errors read exactly as before. */
static int checked_call(lua_State *L)
{
	const struct allowed *a = lua_touserdata(L, lua_upvalueindex(1));
	double cost = a->cost ? a->cost(L, a->name) : 1;
	sandbox_charge(L, a->name, cost);
	int n = lua_tocfunction(L, lua_upvalueindex(2))(L);
	if (a->step && n > 0) {
		int it = lua_gettop(L) - n + 1;
		lua_pushvalue(L, it);
		lua_pushinteger(L, STEP_PAID);
		lua_pushnumber(L, cost);
		lua_pushcclosure(L, a->step, 3);
		lua_replace(L, it);
	}
	return n;
}

/* Keep in table t (the globals, or a library) only what the allow-list
 * names, and wrap what has a cost or a step. Clearing or replacing a field
 * during lua_next is allowed; adding one is not. Returns 0, or -1 with err
 * if a function cannot be wrapped. */
static int keep_allowed(lua_State *L, int t, const char *library, char *err, size_t errlen)
{
	t = lua_absindex(L, t);
	lua_pushnil(L);
	while (lua_next(L, t)) {
		const char *key = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
		const struct allowed *a = key ? find_allowed(library, key) : NULL;
		if (!library && key && !a && is_library(key) && lua_istable(L, -1)) {
			if (keep_allowed(L, -1, key, err, errlen) < 0)
				return -1;
		} else if (!a) {
			lua_pushvalue(L, -2);
			lua_pushnil(L);
			lua_rawset(L, t);
		} else if (a->cost || a->step) {
			/* checked_call runs it in its own frame: it must take no upvalues */
			if (!lua_tocfunction(L, -1) || lua_getupvalue(L, -1, 1)) {
				snprintf(err, errlen, "sandbox: cannot check %s", a->name);
				return -1;
			}
			lua_pushvalue(L, -2);
			lua_pushlightuserdata(L, (void *)a);
			lua_pushvalue(L, -3);
			lua_pushcclosure(L, checked_call, 2);
			lua_rawset(L, t);
		}
		lua_pop(L, 1);
	}
	return 0;
}

/* ---- memory ---- */

/* Lua runs no message handler for a memory error, so note the stack when
 * the allocator refuses, as a traceback. lua_getinfo with "Sln" does not
 * allocate. Once a stop for memory is under way, its place is kept. */
static void note_where(struct sandbox *sb)
{
	lua_State *L = sb->L;
	lua_Debug ar;
	size_t n = 0;
	if (!L || sb->out_of_memory)
		return;
	sb->where[0] = '\0';
	for (int level = 0; lua_getstack(L, level, &ar) && lua_getinfo(L, "Sln", &ar); level++) {
		char line[24] = "", what[160];
		if (ar.currentline > 0)
			snprintf(line, sizeof line, "%d:", ar.currentline);
		if (*ar.namewhat)
			snprintf(what, sizeof what, "%s '%s'", ar.namewhat, ar.name);
		else if (*ar.what == 'm')
			snprintf(what, sizeof what, "main chunk");
		else if (*ar.what == 'C')
			snprintf(what, sizeof what, "?");
		else
			snprintf(what, sizeof what, "function <%s:%d>", ar.short_src,
				 ar.linedefined);
		int w = snprintf(sb->where + n, sizeof sb->where - n, "\n\t%s:%s in %s",
				 ar.short_src, line, what);
		if (w < 0 || (size_t)w >= sizeof sb->where - n) {
			sb->where[n] = '\0'; /* full: keep the innermost frames whole */
			break;
		}
		n += (size_t)w;
	}
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
	void *p = NULL;
	if (nsize <= old || sb->memory - old + nsize <= sb->memory_limit)
		p = realloc(ptr, nsize);
	if (!p) {
		note_where(sb);
		return NULL; /* Lua raises "not enough memory" */
	}
	sb->memory = sb->memory - old + nsize;
	if (nsize > old) {
		/* Bytes made are work: `..` copies in one VM instruction. The
		 * allocator cannot raise, so over the budget it makes the hook
		 * fire at the next instruction. */
		sb->instructions += (long)((nsize - old) / BULK_BYTES);
		if (sb->L && sb->instructions > sb->instruction_limit)
			lua_sethook(sb->L, count_hook, LUA_MASKCOUNT, 1);
	}
	return p;
}

/* pcall that cannot catch a stop: over a budget or out of memory, the error
 * goes on up to the engine. */
static int sandbox_pcall(lua_State *L)
{
	luaL_checkany(L, 1);
	int status = lua_pcall(L, lua_gettop(L) - 1, LUA_MULTRET, 0);
	struct sandbox *sb = sandbox_of(L);
	if (status == LUA_ERRMEM)
		sb->stopped = sb->out_of_memory = 1;
	if (status != LUA_OK && sb->stopped)
		return lua_error(L);
	lua_pushboolean(L, status == LUA_OK);
	lua_insert(L, 1);
	return lua_gettop(L);
}

/* ---- read-only after load ---- */

static int read_only(lua_State *L)
{
	const char *key = lua_type(L, 2) == LUA_TSTRING ? lua_tostring(L, 2) : "?";
	return luaL_error(
		L,
		"cannot set '%s': globals, library and module tables are read-only once "
		"the policy has loaded (a policy keeps nothing from one pupil to the next)",
		key);
}

static int lua_next_fn(lua_State *L)
{
	luaL_checktype(L, 1, LUA_TTABLE);
	lua_settop(L, 2);
	return lua_next(L, 1) ? 2 : (lua_pushnil(L), 1);
}

static int frozen_pairs(lua_State *L)
{
	luaL_getmetafield(L, 1, "__index");
	lua_pushcfunction(L, lua_next_fn);
	lua_insert(L, -2);
	lua_pushnil(L);
	return 3;
}

/* Make the table at t read-only: its entries move to a hidden table,
 * which the emptied original reads through (__index), and writing to it is
 * an error (__newindex). The table keeps its identity, so a module held in
 * a local is frozen too. */
static void hollow(lua_State *L, int t)
{
	lua_newtable(L); /* the hidden copy */
	int copy = lua_gettop(L);
	lua_pushnil(L);
	while (lua_next(L, t)) {
		lua_pushvalue(L, -2);
		lua_insert(L, -2);
		lua_rawset(L, copy);
	}
	lua_pushnil(L);
	while (lua_next(L, copy)) {
		lua_pop(L, 1);
		lua_pushvalue(L, -1);
		lua_pushnil(L);
		lua_rawset(L, t);
	}
	/* a table that had a metatable (the globals: strict reads) keeps it
	 * behind the copy */
	if (lua_getmetatable(L, t))
		lua_setmetatable(L, copy);
	lua_createtable(L, 0, 4);
	lua_pushliteral(L, "read-only"); /* getmetatable cannot reach the copy */
	lua_setfield(L, -2, "__metatable");
	lua_pushvalue(L, copy);
	lua_setfield(L, -2, "__index");
	lua_pushcfunction(L, read_only);
	lua_setfield(L, -2, "__newindex");
	lua_pushcfunction(L, frozen_pairs);
	lua_setfield(L, -2, "__pairs");
	lua_setmetatable(L, t);
	lua_pop(L, 1); /* copy */
}

static void push_work(lua_State *L, int work, lua_Integer *n, int idx)
{
	int type = lua_type(L, idx);
	if (type == LUA_TTABLE || type == LUA_TFUNCTION) {
		lua_pushvalue(L, idx);
		lua_rawseti(L, work, ++*n);
	}
}

/* Freeze the value at idx and everything reachable from it: tables (keys
 * and values) and the upvalues of functions. A work list, not recursion:
 * a policy may build a chain of a million tables at load. seen (at index
 * seen) marks what is done. */
static void freeze(lua_State *L, int idx, int seen)
{
	idx = lua_absindex(L, idx);
	luaL_checkstack(L, 8, "freezing");
	lua_newtable(L);
	int work = lua_gettop(L);
	lua_Integer n = 0;
	push_work(L, work, &n, idx);
	while (n > 0) {
		lua_rawgeti(L, work, n);
		lua_pushnil(L);
		lua_rawseti(L, work, n--);
		int v = lua_gettop(L);
		lua_pushvalue(L, v);
		if (lua_rawget(L, seen) != LUA_TNIL) {
			lua_pop(L, 2);
			continue;
		}
		lua_pop(L, 1);
		lua_pushvalue(L, v);
		lua_pushboolean(L, 1);
		lua_rawset(L, seen);
		if (lua_type(L, v) == LUA_TFUNCTION) {
			for (int i = 1; lua_getupvalue(L, v, i); i++) {
				push_work(L, work, &n, -1);
				lua_pop(L, 1);
			}
		} else {
			lua_pushnil(L);
			while (lua_next(L, v)) {
				push_work(L, work, &n, -2);
				push_work(L, work, &n, -1);
				lua_pop(L, 1);
			}
			hollow(L, v);
		}
		lua_pop(L, 1);
	}
	lua_pop(L, 1); /* work */
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
	int modules = lua_gettop(L);
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
	lua_pushlstring(L, text, len); /* Lua's now, so that a charge cannot leak it */
	free(text);
	/* parsing is work in C, done again each time for a module that fails */
	sandbox_charge(L, "require", (double)len);
	lua_pushfstring(L, "@%s", path);
	size_t n;
	const char *chunk = lua_tolstring(L, -2, &n);
	if (luaL_loadbufferx(L, chunk, n, lua_tostring(L, -1), "t") != LUA_OK)
		return lua_error(L);
	lua_pushstring(L, name);
	lua_call(L, 1, 1);
	if (lua_isnil(L, -1)) {
		lua_pop(L, 1);
		lua_pushboolean(L, 1);
	}
	if (sb->frozen && (lua_type(L, -1) == LUA_TTABLE || lua_type(L, -1) == LUA_TFUNCTION)) {
		lua_newtable(L);
		freeze(L, -2, lua_gettop(L));
		lua_pop(L, 1);
	}
	lua_pushvalue(L, -1);
	lua_setfield(L, modules, name);
	return 1;
}

static int undefined_global(lua_State *L)
{
	return luaL_error(L, "undefined global '%s'", lua_tostring(L, 2));
}

/* math.random: seeded from sandbox_seed's value on its first use after it,
 * so that the many calls that never draw a number cost nothing to seed. */
static int seeded_random(lua_State *L)
{
	struct sandbox *sb = sandbox_of(L);
	if (sb->seed_pending) {
		lua_getfield(L, LUA_REGISTRYINDEX, RANDOMSEED_KEY);
		lua_pushinteger(L, (lua_Integer)sb->seed);
		lua_call(L, 1, 0);
		sb->seed_pending = 0;
	}
	/* Lua's random keeps its state in an upvalue: call it as itself */
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_insert(L, 1);
	lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
	return lua_gettop(L);
}

/* In a protected call: freezing allocates, and a policy may have filled
 * its memory at load. */
static int freeze_all(lua_State *L)
{
	lua_newtable(L);
	int seen = lua_gettop(L);
	/* the strings' metatable is out of reach (getmetatable("") gives a
	 * string): its __index, the string library, is frozen with the rest */
	lua_pushliteral(L, "");
	if (lua_getmetatable(L, -1)) {
		lua_pushliteral(L, "string");
		lua_setfield(L, -2, "__metatable");
		lua_pop(L, 1);
	}
	lua_pop(L, 1);
	/* the modules loaded so far (the cache itself stays writable, for a
	 * module required later: require freezes it as it loads) */
	lua_getfield(L, LUA_REGISTRYINDEX, MODULES_KEY);
	lua_pushnil(L);
	while (lua_next(L, -2)) {
		if (lua_type(L, -1) == LUA_TTABLE || lua_type(L, -1) == LUA_TFUNCTION)
			freeze(L, -1, seen);
		lua_pop(L, 1);
	}
	lua_pop(L, 1);
	lua_pushglobaltable(L);
	freeze(L, -1, seen);
	lua_pop(L, 2);
	return 0;
}

int sandbox_freeze(struct sandbox *sb, char *err, size_t errlen)
{
	lua_pushcfunction(sb->L, freeze_all);
	if (sandbox_call(sb, 0, 0, err, errlen) < 0)
		return -1;
	sb->frozen = 1;
	return 0;
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

	/* Keep math.randomseed for the engine, then keep only the allow-list. */
	lua_getglobal(L, LUA_MATHLIBNAME);
	lua_getfield(L, -1, "randomseed");
	lua_setfield(L, LUA_REGISTRYINDEX, RANDOMSEED_KEY);
	lua_pop(L, 1);
	lua_pushglobaltable(L);
	if (keep_allowed(L, -1, NULL, err, errlen) < 0) {
		sandbox_close(sb);
		return -1;
	}

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

	lua_getglobal(L, LUA_MATHLIBNAME);
	lua_getfield(L, -1, "random");
	lua_pushcclosure(L, seeded_random, 1);
	lua_setfield(L, -2, "random");
	lua_pop(L, 1);

	/* A call makes a few small tables (windows, options) that die when it
	 * returns: the generational collector frees them young, cheaply. */
	lua_gc(L, LUA_GCGEN, 0, 0);
	lua_sethook(L, count_hook, LUA_MASKCOUNT, HOOK_EVERY);
	/* luaopen_math seeds from the clock and the state's address */
	sandbox_seed(sb, 0);
	return 0;
}

void sandbox_close(struct sandbox *sb)
{
	/* No policy code runs at close: no object has a finalizer
	 * (check_metatable), and freeing never allocates. */
	if (sb->L)
		lua_close(sb->L);
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
	sb->stopped = sb->out_of_memory = sb->late = 0;
	sb->where[0] = '\0';
	/* the allocator or the watchdog may have armed the hook to fire at once */
	lua_sethook(L, count_hook, LUA_MASKCOUNT, HOOK_EVERY);
	struct watch_slot *slot = watch_slot();
	running = sb;
	if (slot)
		atomic_store(&slot->started, now_ns());
	int status = lua_pcall(L, nargs, nresults, base);
	if (slot)
		atomic_store(&slot->started, 0);
	running = NULL;
	sb->last_stopped = status != LUA_OK && (sb->stopped || status == LUA_ERRMEM);
	if (status != LUA_OK) {
		const char *msg = lua_tostring(L, -1);
		if (status == LUA_ERRMEM || sb->out_of_memory)
			snprintf(err, errlen, "stopped: over the memory budget of %zu bytes%s%s",
				 sb->memory_limit, sb->where[0] ? "\nstack traceback:" : "",
				 sb->where);
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
	sb->seed = seed;
	sb->seed_pending = 1;
}

char *sandbox_read_file(const char *path, size_t limit, size_t *len, char *err, size_t errlen)
{
	return file_read(path, limit, len, NULL, err, errlen);
}
