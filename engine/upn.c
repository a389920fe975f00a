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

int year_group_valid(const char *s, int len)
{
	static const char *const groups[] = { "N1", "N2", "R", "X", "1",  "2",	"3",  "4",  "5",
					      "6",  "7",  "8", "9", "10", "11", "12", "13", "14" };
	for (size_t i = 0; i < sizeof groups / sizeof groups[0]; i++)
		if ((int)strlen(groups[i]) == len && memcmp(groups[i], s, (size_t)len) == 0)
			return 1;
	return 0;
}

uint32_t upn_hash(const char *upn)
{
	uint32_t h = 2166136261u; /* FNV-1a */
	for (int i = 0; i < 13; i++)
		h = (h ^ (uint8_t)upn[i]) * 16777619u;
	return h;
}
