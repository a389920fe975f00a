/*
 * params.h — an organisation's thresholds (table params), as `rollcall
 * params` and the API's /api/v1/params read and set them: one check of a
 * value against the bounds and type its policy declares, one listing, and
 * one write that keeps the audit trail (before and after) in the change's
 * own transaction. The engine reads the values each batch.
 */
#ifndef ROLLCALL_PARAMS_H
#define ROLLCALL_PARAMS_H

#include "config.h"
#include "db.h"
#include "policyset.h"

#include <stddef.h>

struct json_t;

/* Load org's own policy file (la-NNN.lua or trust-ID.lua in cfg->policies)
 * into set, which the caller frees with policy_set_free; its policy, or
 * NULL if the file is missing or does not load (on_error hears why). */
struct policy *params_policy(struct policy_set *set, const struct config *cfg, const char *org,
			     policy_error_fn on_error);

/* Why v may not be param q's value, as a sentence naming the policy's
 * bounds or type; NULL if it may. */
const char *params_refuses(const struct policy *p, const struct param *q, double v, char *why,
			   size_t size);

/* The params of p for org: {"org", "policy", "file", "etag", "items":
 * [{"name", "value", "default", "min", "max", "integer", "doc", "set",
 * "in_force", "stored"}]}: value is the one in force (a stored value the
 * bounds no longer allow is not: in_force false, the default used). NULL
 * on a database failure (reported). */
struct json_t *params_json(struct db *db, const struct policy *p, const char *org);

/* The version of org's stored values, as an HTTP entity tag (a quoted
 * SHA-256 of them), into etag (67 bytes). Returns 0 or the failure. */
#define PARAMS_ETAG_SIZE 67
int params_etag(struct db *db, const char *org, char etag[PARAMS_ETAG_SIZE]);

struct params_change {
	int index;    /* in p->params */
	int reset;    /* 1: back to the default (the stored value removed) */
	double value; /* else the value, checked with params_refuses */
};

/* Why params_store changed nothing, beside the negative failures: */
enum { PARAMS_CONFLICT = 1 /* if_match is not the values' etag now */ };

/* Store the changes for org in one write transaction, each audited
 * (params.set or params.reset, before and after as NAME=VALUE, "default"
 * for none stored) by who via via; if if_match is not NULL, only if it is
 * the etag of the values when the transaction starts. Returns DB_DONE,
 * PARAMS_CONFLICT, or the failure (reported). */
int params_store(struct db *db, const struct policy *p, const char *org,
		 const struct params_change *changes, int n, const char *if_match, const char *who,
		 const char *via);

#endif
