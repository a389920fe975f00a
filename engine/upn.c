/*
 * upn.c — identifier checks.
 *
 * The UPN check letter (DfE "Unique pupil numbers (UPN)" guidance): the
 * letters ABCDEFGHJKLMNPQRTUVWXYZ stand for 0-22 (I, O and S are never used).
 * For positions p = 2..13 take the digit, or for a temporary UPN's final
 * letter its value in that table; the check letter is the table's letter at
 * (sum of p * value) mod 23.
 */
#include "upn.h"

#include <string.h>

static const char upn_letters[] = "ABCDEFGHJKLMNPQRTUVWXYZ";

static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static int letter_value(char c)
{
	const char *p = c ? strchr(upn_letters, c) : NULL;
	return p ? (int)(p - upn_letters) : -1;
}

char upn_check_letter(const char *body)
{
	int sum = 0;
	for (int i = 0; i < 12; i++) {
		int v;
		if (is_digit(body[i]))
			v = body[i] - '0';
		else if (i == 11 && (v = letter_value(body[i])) >= 0)
			; /* temporary UPN: the last character is a letter */
		else
			return 0;
		sum += (i + 2) * v;
	}
	return upn_letters[sum % 23];
}

int upn_valid(const char *s, int len)
{
	if (len != 13)
		return 0;
	char want = upn_check_letter(s + 1);
	return want && s[0] == want;
}

static int all_digits(const char *s, int len, int want)
{
	if (len != want)
		return 0;
	for (int i = 0; i < len; i++)
		if (!is_digit(s[i]))
			return 0;
	return 1;
}

int urn_valid(const char *s, int len)
{
	return all_digits(s, len, 6);
}

int la_code_valid(const char *s, int len)
{
	return all_digits(s, len, 3);
}

int trust_id_valid(const char *s, int len)
{
	if (len < 1 || len > 16)
		return 0;
	for (int i = 0; i < len; i++) {
		char c = s[i];
		if (!is_digit(c) && !(c >= 'A' && c <= 'Z') && !(c >= 'a' && c <= 'z'))
			return 0;
	}
	return 1;
}

int session_parse(const char *s, int len)
{
	if (len == 2 && s[1] == 'M')
		return s[0] == 'A' ? 0 : s[0] == 'P' ? 1 : -1;
	return -1;
}

/* The year groups of the census, and the National Curriculum year each is
 * (docs/POLICIES.md, p.year: R is 0, nursery N2 and N1 are -1 and -2; X,
 * no year, has none). */
static const struct {
	const char *text;
	int year, numbered;
} year_groups[] = {
	{ "N1", -2, 1 }, { "N2", -1, 1 }, { "R", 0, 1 },   { "X", 0, 0 },   { "1", 1, 1 },
	{ "2", 2, 1 },	 { "3", 3, 1 },	  { "4", 4, 1 },   { "5", 5, 1 },   { "6", 6, 1 },
	{ "7", 7, 1 },	 { "8", 8, 1 },	  { "9", 9, 1 },   { "10", 10, 1 }, { "11", 11, 1 },
	{ "12", 12, 1 }, { "13", 13, 1 }, { "14", 14, 1 },
};

static int year_group_find(const char *s, int len)
{
	for (size_t i = 0; i < sizeof year_groups / sizeof *year_groups; i++)
		if ((int)strlen(year_groups[i].text) == len &&
		    memcmp(year_groups[i].text, s, (size_t)len) == 0)
			return (int)i;
	return -1;
}

int year_group_valid(const char *s, int len)
{
	return year_group_find(s, len) >= 0;
}

int year_group_year(const char *s, int *year)
{
	int i = year_group_find(s, (int)strlen(s));
	if (i < 0 || !year_groups[i].numbered)
		return 0;
	*year = year_groups[i].year;
	return 1;
}

uint32_t upn_hash(const char *upn)
{
	uint32_t h = 2166136261u; /* FNV-1a */
	for (int i = 0; i < 13; i++)
		h = (h ^ (uint8_t)upn[i]) * 16777619u;
	return h;
}
