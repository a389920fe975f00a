/*
 * codes.c — the attendance code table.
 *
 * Sources: DfE "Working together to improve school attendance" (2024) and the
 * School Attendance (Pupil Registration) (England) Regulations 2024; the
 * category split follows DfE's daily attendance dataset (present, approved
 * educational activity, authorised, unauthorised). Pre-2024 codes keep their
 * old meaning for dates before 2024-08-19 and are refused after; the codes the
 * 2024 regulations introduced are refused before. docs/DATA.md
 * keeps the sources.
 */
#include "codes.h"

#include "date.h"

#include <string.h>

#define ALWAYS	   DATE_MIN, DATE_MAX
#define FROM_2024  DATE_REGS_2024, DATE_MAX
#define UNTIL_2024 DATE_MIN, DATE_REGS_2024 - 1

const struct code codes_table[CODES_COUNT + 1] = {
	{ "", CAT_NOT_COUNTED, 0, -1, "no mark" },
	{ "/", CAT_PRESENT, ALWAYS, "present (AM)" },
	{ "\\", CAT_PRESENT, ALWAYS, "present (PM)" },
	{ "L", CAT_PRESENT, ALWAYS, "late, arrived before the register closed" },
	{ "K", CAT_AEA, FROM_2024, "education provision arranged by the local authority" },
	{ "V", CAT_AEA, ALWAYS, "educational visit or trip" },
	{ "P", CAT_AEA, ALWAYS, "approved sporting activity" },
	{ "W", CAT_AEA, ALWAYS, "work experience" },
	{ "B", CAT_AEA, ALWAYS, "other approved educational activity" },
	{ "C", CAT_AUTHORISED, ALWAYS, "leave of absence, exceptional circumstances" },
	{ "C1", CAT_AUTHORISED, FROM_2024, "leave for regulated performance or employment abroad" },
	{ "C2", CAT_AUTHORISED, FROM_2024, "leave: agreed temporary part-time timetable" },
	{ "E", CAT_AUTHORISED, ALWAYS, "suspended or excluded, no alternative provision" },
	{ "I", CAT_AUTHORISED, ALWAYS, "illness" },
	{ "J1", CAT_AUTHORISED, FROM_2024, "leave to attend an interview" },
	{ "M", CAT_AUTHORISED, ALWAYS, "medical or dental appointment" },
	{ "R", CAT_AUTHORISED, ALWAYS, "religious observance" },
	{ "S", CAT_AUTHORISED, ALWAYS, "study leave for a public examination" },
	{ "T", CAT_AUTHORISED, ALWAYS, "mobile child (parent travelling for work)" },
	{ "G", CAT_UNAUTHORISED, ALWAYS, "holiday not granted by the school" },
	{ "N", CAT_UNAUTHORISED, ALWAYS, "reason not yet established" },
	{ "O", CAT_UNAUTHORISED, ALWAYS, "other or unknown unauthorised absence" },
	{ "U", CAT_UNAUTHORISED, ALWAYS, "arrived after the register closed" },
	{ "Q", CAT_NOT_COUNTED, FROM_2024, "LA has not made required access arrangements" },
	{ "Y1", CAT_NOT_COUNTED, FROM_2024, "unable to attend: transport not provided" },
	{ "Y2", CAT_NOT_COUNTED, FROM_2024, "unable to attend: widespread travel disruption" },
	{ "Y3", CAT_NOT_COUNTED, FROM_2024, "unable to attend: part of premises closed" },
	{ "Y4", CAT_NOT_COUNTED, FROM_2024, "unable to attend: whole site closed" },
	{ "Y5", CAT_NOT_COUNTED, FROM_2024, "unable to attend: criminal justice detention" },
	{ "Y6", CAT_NOT_COUNTED, FROM_2024, "unable to attend: public health guidance or law" },
	{ "Y7", CAT_NOT_COUNTED, FROM_2024, "unable to attend: other unavoidable cause" },
	{ "X", CAT_NOT_COUNTED, ALWAYS, "non-compulsory school age, not required to attend" },
	{ "Z", CAT_NOT_COUNTED, ALWAYS, "prospective pupil, not yet on the admission register" },
	{ "#", CAT_NOT_COUNTED, ALWAYS, "planned whole or partial school closure" },
	{ "D", CAT_NOT_COUNTED, ALWAYS, "dual registration: attending another school" },
	/* Pre-2024 codes with their old meaning (2006 Regulations). */
	{ "H", CAT_AUTHORISED, UNTIL_2024, "agreed family holiday (pre-2024)" },
	{ "J", CAT_AEA, UNTIL_2024, "interview (pre-2024)" },
	{ "Y", CAT_NOT_COUNTED, UNTIL_2024, "exceptional circumstances (pre-2024)" },
	{ "F", CAT_AUTHORISED, UNTIL_2024, "extended family holiday (withdrawn 2013)" },
};

_Static_assert(sizeof codes_table / sizeof codes_table[0] == CODES_COUNT + 1,
	       "CODES_COUNT must match the code table");

static const char *const category_names[CAT_COUNT] = {
	"present", "aea", "authorised", "unauthorised", "not_counted",
};

int codes_find(const char *s, int len)
{
	if (len < 1 || len > 2)
		return 0;
	for (int i = 1; i <= CODES_COUNT; i++) {
		const char *t = codes_table[i].text;
		if (t[0] == s[0] && (int)strlen(t) == len && (len == 1 || t[1] == s[1]))
			return i;
	}
	return 0;
}

int codes_valid_on(int index, int day)
{
	const struct code *c = codes_get(index);
	return c && day >= c->valid_from && day <= c->valid_to;
}

const char *codes_category_name(enum category c)
{
	return c >= 0 && c < CAT_COUNT ? category_names[c] : "?";
}
