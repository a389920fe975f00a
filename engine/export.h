/*
 * export.h — everything rollcall holds about one pupil, as one JSON
 * document, for a subject access request (UK GDPR art. 15; docs/PRIVACY.md
 * says how to answer one): the pupil and their school, their marks with
 * every amendment, their figures as `rollcall pupil --json` gives them,
 * the actions taken with the evidence, the parameter values in force and
 * the text of each policy version that decided them, the deliveries of
 * those actions and every attempt, cases, sign-offs, the audit rows about
 * them, and the rows refused on import or still waiting that name the
 * pupil. docs/schemas/export.json is its JSON Schema.
 *
 * Nothing in it is about another pupil: the tables it reads are keyed by
 * the pupil (or by their actions), and a policy sees one pupil at a time,
 * so evidence and data can only be about this one; what rollcall does not
 * write itself — policy text, a webhook receiver's response, a person's
 * note — is searched for any other valid UPN, which is replaced by
 * EXPORT_REDACTED and counted in the document's `redacted`.
 *
 * `rollcall export` (cmd_export.c) writes it to a file; the API's
 * `GET /api/v1/pupils/UPN/export` is meant to call export_pupil with the
 * token's organisation. Both are disclosures: the caller audits them
 * (export_audit). Knows nothing of HTTP.
 */
#ifndef ROLLCALL_EXPORT_H
#define ROLLCALL_EXPORT_H

#include "db.h"

#include <jansson.h>

/* The document's "format", moved when its shape changes incompatibly. */
#define EXPORT_FORMAT "rollcall.export/1"

/* What replaces another pupil's UPN found in free text. */
#define EXPORT_REDACTED "[another pupil's UPN removed]"

/* No such pupil (or, with an org, not one of its pupils: the API answers
 * 404 alike, so that existence does not leak). */
#define EXPORT_NOT_FOUND 1

/* Build the export of the pupil upn (13 characters, already checked with
 * upn_valid) into *out (a new reference, the caller's to json_decref).
 *
 * org NULL: everything the database holds. org "la:NNN" or "trust:ID":
 * only what that organisation holds — the pupil must be at one of its
 * schools now (else EXPORT_NOT_FOUND); marks recorded at its schools;
 * its actions, their deliveries, its cases and its audit rows; the policy
 * versions that decided those actions. Rows refused on import, rows still
 * waiting in `incoming` and the evaluator's errors belong to the
 * operator, not to an organisation: in the full export only.
 *
 * Reads in one read transaction (a consistent snapshot; it takes no lock
 * that blocks a writer in WAL mode), so it must not be called inside one.
 * Returns 0, EXPORT_NOT_FOUND, or a failure (enum db_result, reported). */
int export_pupil(struct db *db, const char *upn, const char *org, json_t **out);

/* Audit an export of upn made by who (a person, or the local user) via
 * ("cli:USER", or the API's "api:TOKEN-ID") for org (NULL: the pupil's
 * school's council): what 'pupil.export', detail the UPN, in a
 * transaction of its own. Returns 0 or the failure (reported). */
int export_audit(struct db *db, const char *upn, const char *org, const char *who, const char *via);

/* The organisation that speaks for the pupil upn for an audit
 * row with no organisation of its own: "la:" and their school's council,
 * into buf. Returns 0, EXPORT_NOT_FOUND, or a failure (reported). */
int export_pupil_org(struct db *db, const char *upn, char *buf, size_t size);

#endif
