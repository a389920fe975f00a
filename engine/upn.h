/*
 * upn.h — checks for the identifiers in attendance data: UPN, URN, LA code,
 * trust id, session and year group. Pure functions over (text, length), so
 * that CSV fields need no copying. Each returns 1 if valid, 0 if not.
 */
#ifndef ROLLCALL_UPN_H
#define ROLLCALL_UPN_H

#include <stdint.h>

/* Unique Pupil Number: 13 characters, a check letter then 12 digits, or 11
 * digits and a letter for a temporary UPN; the check letter must match. */
int upn_valid(const char *s, int len);

/* The check letter the 12 characters after it call for, or 0 if they are
 * not a UPN body. Used by the generator to make valid UPNs. */
char upn_check_letter(const char *body12);

int urn_valid(const char *s, int len);	    /* 6 digits */
int la_code_valid(const char *s, int len);  /* 3 digits */
int trust_id_valid(const char *s, int len); /* 1-16 of [A-Za-z0-9] */

/* A hash of a 13-character UPN, for the tables that find pupils by it. */
uint32_t upn_hash(const char *upn);

/* "AM" -> 0, "PM" -> 1, anything else -> -1. */
int session_parse(const char *s, int len);

/* DfE National Curriculum year groups: N1, N2, R, 1-14, X. */
int year_group_valid(const char *s, int len);

/* The National Curriculum year of a valid year group: 1 and *year set
 * (R 0, N2 -1, N1 -2, "1".."14"), or 0 for X (none). */
int year_group_year(const char *s, int *year);

#endif
