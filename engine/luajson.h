/*
 * luajson.h — a Lua value as JSON, for evidence and data a policy attaches
 * to an action. Tables with keys 1..n become arrays, other tables objects
 * (keys must be strings or numbers); numbers, strings and booleans map
 * directly. Refused with a reason: NaN and infinities (JSON has neither,
 * and null would read as "no value"), cycles, functions and other values
 * JSON cannot hold, strings that are not UTF-8, nesting deeper than
 * LUAJSON_MAX_DEPTH, more than LUAJSON_MAX_BYTES in all. The reason names
 * where in the value it was: "rates.week[3]: not a finite number (NaN)",
 * "a table that contains itself (at case.self)".
 */
#ifndef ROLLCALL_LUAJSON_H
#define ROLLCALL_LUAJSON_H

#include <jansson.h>
#include <lua.h>
#include <stddef.h>

#define LUAJSON_MAX_DEPTH 32
#define LUAJSON_MAX_BYTES (1 << 20)

/* Convert the value at index idx. Returns a new reference, or NULL with why
 * (whose path starts at the value's own keys: the caller names the value). */
json_t *luajson_encode(lua_State *L, int idx, char *why, size_t whylen);

#endif
