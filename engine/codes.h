/*
 * codes.h — the DfE attendance codes and how each one counts.
 *
 * One table (codes.c) holds every code: its text, category, meaning and the
 * dates it is valid for. Elsewhere a code is its index in that table, a small
 * integer that fits in one byte of a pupil's register (0 means "no mark").
 */
#ifndef ROLLCALL_CODES_H
#define ROLLCALL_CODES_H

enum category {
	CAT_PRESENT,
	CAT_AEA, /* approved educational activity: counts as attendance */
	CAT_AUTHORISED,
	CAT_UNAUTHORISED,
	CAT_NOT_COUNTED, /* not a possible session */
	CAT_COUNT
};

struct code {
	const char *text; /* "/", "C1", "Y3" ... never a single char */
	enum category category;
	int valid_from;	     /* first day the code may be used */
	int valid_to;	     /* last day the code may be used */
	const char *meaning; /* short description for listings and docs */
};

/* Indices run from 1 to CODES_COUNT; 0 is "no mark". */
#define CODES_COUNT 38

/* The table, for the inline accessors below (codes.c). */
extern const struct code codes_table[CODES_COUNT + 1];

static inline const struct code *codes_get(int index)
{
	return index >= 1 && index <= CODES_COUNT ? &codes_table[index] : 0;
}

/* The index of code text s (len bytes), or 0 if it is not a DfE code. */
int codes_find(const char *s, int len);

/* 1 if code index may be recorded on day; 0 otherwise. */
int codes_valid_on(int index, int day);

const char *codes_category_name(enum category c);

/* Per-index properties used on the hot path; index 0 is never possible. */
static inline int codes_possible(int index)
{
	return index >= 1 && index <= CODES_COUNT && codes_table[index].category != CAT_NOT_COUNTED;
}

/* L and U: late, before or after registers closed */
static inline int codes_late(int index)
{
	const struct code *c = codes_get(index);
	return c && (c->text[0] == 'L' || c->text[0] == 'U') && c->text[1] == '\0';
}

#endif
