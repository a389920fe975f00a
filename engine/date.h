/*
 * date.h — calendar dates as day numbers.
 *
 * The engine never handles dates as text past the edge: a date is the number
 * of days since 1970-01-01 (proleptic Gregorian), so windows, weeks and
 * academic years are plain arithmetic. Dates from 2000-01-01 to 2099-12-31
 * are accepted; that bounds every key built from a day number.
 */
#ifndef ROLLCALL_DATE_H
#define ROLLCALL_DATE_H

#define DATE_MIN      10957 /* 2000-01-01 */
#define DATE_MAX      47481 /* 2099-12-31 */
#define DATE_MIN_YEAR 1999  /* the academic year holding DATE_MIN */

/* The day the 2024 regulations and code set took effect (SI 2024/208). */
#define DATE_REGS_2024 19954 /* 2024-08-19 */

/* Day number of y-m-d; the caller ensures the date is real. */
int date_from_ymd(int y, int m, int d);
void date_to_ymd(int day, int *y, int *m, int *d);

/* Parse exactly "YYYY-MM-DD", a real calendar date in range. Returns the day
 * number, or -1 with no side effects. */
int date_parse(const char *s, int len);

/* Write "YYYY-MM-DD" and a NUL into buf (11 bytes). Returns buf. */
char *date_format(int day, char buf[11]);

/* 0 = Monday ... 6 = Sunday. */
int date_weekday(int day);

/* The Monday on or before day: the start of its school week. */
int date_monday(int day);

/* The 1 September on or before day, and that September's year (the academic
 * year 2025/26 is 2025). */
int date_academic_start(int day);
int date_academic_year(int day);

/* The n-th weekday (Monday to Friday) after day: a sign-off's last day to
 * be decided (actions.c). rollcall knows no bank or school holidays: every
 * weekday counts. */
int date_add_weekdays(int day, int n);

/* Today's date in UTC, by the wall clock: for deadlines people keep (a
 * sign-off's), never for what a policy sees (today() is the evaluated
 * day). */
int date_today(void);

#endif
