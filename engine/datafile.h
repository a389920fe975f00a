/*
 * datafile.h — a Lua file read as data: rollcall.conf (config.c) and the
 * test files of `rollcall test` (policytest.c).
 *
 * The file runs in a Lua state with no libraries and no globals, so it can
 * only assign values; while it runs, the line of every key it sets is
 * noted. Then the caller reads the values back and names FILE:LINE of any
 * it refuses.
 *
 *   lua_State *L = datafile_open(&spec);        NULL: out of memory
 *   if (datafile_run(L, path, text, len, err, sizeof err) == 0)
 *           ... the values table is at the top; datafile_key_line(L, ...)
 *   datafile_close(L);
 *
 * What is bounded: the instructions the file runs (a loop), the Lua memory
 * it takes (a file that grows without one), and the work of noting lines
 * (spec.track_budget registers and keys looked at in all, tables nested 16
 * deep): a file that loops building big tables loses the lines of what it
 * sets past that, which datafile_key_line and datafile_table_line then do
 * not know.
 */
#ifndef ROLLCALL_DATAFILE_H
#define ROLLCALL_DATAFILE_H

#include <lua.h>
#include <stddef.h>

struct datafile_spec {
	const char *what;   /* the file in messages: "the configuration" */
	const char *names;  /* the names it may set, listed if it sets a key that is none */
	int instructions;   /* a budget for the whole file */
	size_t memory;	    /* bytes of Lua memory while it runs */
	long track_budget;  /* registers and keys the noting of lines may look at */
	int first_key_line; /* a table is on its first named key's line, if later (below) */
};

/* A state for a file of this kind (spec is copied; its strings must outlive
 * the state), or NULL when there is no memory for one. */
lua_State *datafile_open(const struct datafile_spec *spec);

/* Run text, read from path, as the file's chunk. 0: the values it set are
 * a table at the top of the stack, and the memory budget is lifted
 * (reading them back runs unprotected, where a memory error would abort).
 * -1: the message, FILE:LINE first, is in err; they include
 *   FILE:LINE: <what> runs too long (it should only assign values)
 *   FILE[:LINE]: <what> needs more than N MiB of memory (it should only
 *     assign values)     (no LINE: while the file was being parsed)
 *   FILE:LINE: only names can be assigned (the keys are <names>)
 *   FILE:LINE: 'x' is not defined (<what> holds only data)
 * and Lua's own syntax and runtime errors. */
int datafile_run(lua_State *L, const char *path, const char *text, size_t len, char *err,
		 size_t errsize);

/* The line the table at t is on: the line its constructor ran on (that of
 * its "{", or of the token before it when the "{" starts a line, as Lua
 * emits the table before it reads the "{"). With first_key_line, the line
 * of its first named key when that is later, which suits items of a list
 * written one "{" per line. 0: not known. */
int datafile_table_line(lua_State *L, int t);

/* The line of the key at k of the table at t (the values table too: the
 * line of a global): that of its value if it is a table, else the line the
 * key was set on (for a value over several lines, such as a string in
 * [[ ]], the line it ends on); dflt if neither is known. */
int datafile_key_line(lua_State *L, int t, int k, int dflt);

/* Close the state (NULL: nothing to do). */
void datafile_close(lua_State *L);

#endif
