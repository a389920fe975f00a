/*
 * report.h — one organisation's attendance as a self-contained HTML page:
 * weekly rates, persistent and severe absence, actions by kind and week,
 * the schools with the most persistent absence, open cases, the legal
 * steps waiting for a decision and who decided what lately. `rollcall
 * report` and the API's GET /api/v1/report both write it from here.
 */
#ifndef ROLLCALL_REPORT_H
#define ROLLCALL_REPORT_H

#include "db.h"

#include <stdio.h>

/* org's page (la:NNN or trust:ID, checked by the caller), written to out,
 * its figures read in one snapshot. Returns 0, 1 if no school belongs to
 * org (reported), or -1 (reported). */
int report_page(struct db *db, const char *org, FILE *out);

/* The page's figures alone, as the JSON object it draws from (the web
 * console's overview): into *figures, the caller's to json_decref.
 * Returns as report_page. */
struct json_t;
int report_figures(struct db *db, const char *org, struct json_t **figures);

#endif
