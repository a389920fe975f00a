/*
 * date.c — civil dates <-> day numbers.
 *
 * The conversions are Howard Hinnant's days_from_civil / civil_from_days
 * algorithms (public domain), which are exact for the proleptic Gregorian
 * calendar without tables or loops.
 */
#include "date.h"

#include <time.h>

int date_from_ymd(int y, int m, int d)
{
	y -= m <= 2;
	int era = (y >= 0 ? y : y - 399) / 400;
	int yoe = y - era * 400;
	int doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

void date_to_ymd(int day, int *y, int *m, int *d)
{
	int z = day + 719468;
	int era = (z >= 0 ? z : z - 146096) / 146097;
	int doe = z - era * 146097;
	int yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = yoe + era * 400 + (*m <= 2);
}

static int days_in_month(int y, int m)
{
	static const unsigned char mdays[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return 29;
	return mdays[m - 1];
}

static int digits(const char *s, int n)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

int date_parse(const char *s, int len)
{
	if (len != 10 || s[4] != '-' || s[7] != '-')
		return -1;
	int y = digits(s, 4), m = digits(s + 5, 2), d = digits(s + 8, 2);
	if (y < 0 || m < 1 || m > 12 || d < 1 || d > days_in_month(y, m))
		return -1;
	int day = date_from_ymd(y, m, d);
	return day < DATE_MIN || day > DATE_MAX ? -1 : day;
}

char *date_format(int day, char buf[11])
{
	int y, m, d;
	date_to_ymd(day, &y, &m, &d);
	const int parts[3][2] = { { y, 4 }, { m, 2 }, { d, 2 } };
	char *p = buf;
	for (int i = 0; i < 3; i++) {
		if (i)
			*p++ = '-';
		for (int k = parts[i][1] - 1, v = parts[i][0]; k >= 0; k--, v /= 10)
			p[k] = (char)('0' + v % 10);
		p += parts[i][1];
	}
	*p = '\0';
	return buf;
}

int date_weekday(int day)
{
	/* 1970-01-01 was a Thursday (3 when Monday is 0). */
	int w = (day + 3) % 7;
	return w < 0 ? w + 7 : w;
}

int date_monday(int day)
{
	return day - date_weekday(day);
}

int date_academic_year(int day)
{
	int y, m, d;
	date_to_ymd(day, &y, &m, &d);
	return m >= 9 ? y : y - 1;
}

int date_academic_start(int day)
{
	return date_from_ymd(date_academic_year(day), 9, 1);
}

int date_add_weekdays(int day, int n)
{
	while (n > 0)
		if (date_weekday(++day) < 5)
			n--;
	return day;
}

int date_today(void)
{
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	return date_from_ymd(tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
}
