/*
 * sandbox.h — a Lua 5.4 state fit to run a council's policy.
 *
 * Built from an allow-list (sandbox.c): only the libraries and functions
 * docs/POLICIES.md lists, text chunks only, `require` of text modules from
 * the scripts directory only. Every state has a memory budget (a counting
 * allocator) and every call an instruction budget (a count hook, plus the
 * work C library functions do, charged before they do it); once a call is
 * over either budget, the script's own pcall cannot catch the stop. Reading
 * an undefined global is an error naming it. math.random starts from a
 * fixed seed, never the clock.
 */
#ifndef ROLLCALL_SANDBOX_H
#define ROLLCALL_SANDBOX_H

#include <lua.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#define SANDBOX_MEMORY_DEFAULT	     (64u << 20) /* bytes per state */
#define SANDBOX_CALL_SECONDS	     1.0       /* wall clock per call: a backstop, see sandbox.c */
#define SANDBOX_INSTRUCTIONS_DEFAULT 10000000L /* per call */

struct sandbox {
	lua_State *L;
	size_t memory, memory_limit;
	long instructions, instruction_limit; /* for the running call */
	volatile sig_atomic_t late;	      /* the running call is past its deadline */
	uint64_t seed;			      /* math.random's seed, taken on its first use */
	int seed_pending;
	int stopped;	   /* over a budget: nothing may catch it */
	int last_stopped;  /* the last call ended over a budget or its deadline */
	int frozen;	   /* sandbox_freeze has run */
	int out_of_memory; /* the stop was for memory; `where` says where */
	char where[1024];  /* the stack when the allocator last refused, as a traceback */
	char *scripts_dir;
};

/* A new state with the allow-listed globals. Returns 0, or -1 with err. */
int sandbox_open(struct sandbox *sb, const char *scripts_dir, size_t memory_limit,
		 long instruction_limit, char *err, size_t errlen);
void sandbox_close(struct sandbox *sb);

/* The sandbox a state belongs to. */
struct sandbox *sandbox_of(lua_State *L);

/* Load text as a chunk named chunkname ("@path" for file:line messages) and
 * run it under the budgets. Returns 0, or -1 with the error and traceback. */
int sandbox_run(struct sandbox *sb, const char *chunkname, const char *text, size_t len, char *err,
		size_t errlen);

/* Call the function below nargs arguments on the stack under the budgets,
 * with a traceback on error; leaves nresults results. Returns 0, or -1 with
 * err (the stack is then as before the function was pushed). */
int sandbox_call(struct sandbox *sb, int nargs, int nresults, char *err, size_t errlen);

/* After the policy has loaded: its globals, the library tables, the
 * modules it required, and every table reachable from them or from their
 * functions' upvalues become read-only (writing one is an error naming the
 * line), so a policy keeps nothing from one pupil to the next in them.
 * Returns 0, or -1 with err (out of memory). */
int sandbox_freeze(struct sandbox *sb, char *err, size_t errlen);

/* Charge cost instructions of work C is about to do for the running call
 * (a query, encoding JSON): over the budget, the call stops here, and the
 * script's own pcall cannot catch it. */
void sandbox_charge(lua_State *L, const char *what, double cost);

/* Seed math.random: each (policy, pupil, date) gets its own sequence. */
void sandbox_seed(struct sandbox *sb, uint64_t seed);

/* Read a whole file of at most limit bytes; NULL with err on failure. */
char *sandbox_read_file(const char *path, size_t limit, size_t *len, char *err, size_t errlen);

#endif
