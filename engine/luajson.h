/*
 * luajson.h — a Lua value as JSON, for evidence and data a policy attaches
 * to an action. Tables with keys 1..n become arrays, other tables objects
 * (keys must be strings or numbers); numbers, strings and booleans map
 * directly; NaN and infinities become null. Refused with a reason: cycles,
 * functions and other values JSON cannot hold, strings that are not UTF-8,
 * nesting deeper than LUAJSON_MAX_DEPTH, more than LUAJSON_MAX_BYTES in all.
 */
#ifndef ROLLCALL_LUAJSON_H
#define ROLLCALL_LUAJSON_H

#include <jansson.h>
#include <lua.h>
#include <stddef.h>

#define LUAJSON_MAX_DEPTH 32
#define LUAJSON_MAX_BYTES (1 << 20)

/* Convert the value at index idx. Returns a new reference, or NULL with why. */
json_t *luajson_encode(lua_State *L, int idx, char *why, size_t whylen);

#endif
