/*
 * outbox.h — what a person may do to the webhook outbox: queue a delivery
 * that died (or had no endpoint) again, in the caller's transaction, with
 * its audit row. `rollcall redeliver` and the API's redeliver both come
 * through here, so the rules and the audit trail are the same for both.
 * The delivery keeps its webhook-id: a receiver that had it already sees
 * the same message again, not a new one.
 */
#ifndef ROLLCALL_OUTBOX_H
#define ROLLCALL_OUTBOX_H

#include "audit.h"
#include "config.h"
#include "db.h"

#include <stddef.h>

/* Why a delivery was not queued (positive, beside the negative db_result
 * failures): */
enum {
	OUTBOX_NOT_FOUND = 1, /* no such delivery, or not of the organisation asked */
	OUTBOX_NOT_DEAD,      /* pending or delivered: nothing to queue */
	OUTBOX_NO_ENDPOINT,   /* its endpoint is not in the configuration */
};

/* Queue delivery id again (pending, attempts 0, due now) if it is dead or
 * no_endpoint and its endpoint is in cfg; org, when not NULL, is the only
 * organisation whose deliveries may be touched (anything else is
 * OUTBOX_NOT_FOUND). who and via are the audit row's (audit.h); the row
 * names the delivery, its action, its organisation, its state before and
 * `pending` after. Returns DB_DONE, an OUTBOX_* refusal with why it was
 * refused in why, or a failure (reported). */
int outbox_redeliver(struct db *db, const struct config *cfg, long long id, const char *org,
		     const char *who, const char *via, char *why, size_t why_size);

/* The most deliveries one bulk redeliver queues: an outage of a day at a
 * council's volume is a few thousand; more than this is refused (narrow
 * it with a later --since), so that a mistyped time cannot resend years. */
#define OUTBOX_BULK_MAX 10000

enum { OUTBOX_TOO_MANY = OUTBOX_NO_ENDPOINT + 1 }; /* more than OUTBOX_BULK_MAX matched */

/* Queue again, as outbox_redeliver does each, every delivery to endpoint
 * whose state is state ("dead" or "no_endpoint") and which was queued at
 * or after since ("YYYY-MM-DD" or "YYYY-MM-DDTHH:MM:SSZ", UTC; a delivery
 * from before schema version 8 counts from its action's created_at), of
 * org only when not NULL. Each keeps its webhook-id. One audit row per
 * organisation touched, `delivery.redeliver_bulk`, with the count, the
 * endpoint, since and the first and last delivery id in detail. *queued
 * is how many. Returns DB_DONE (also when none matched), OUTBOX_NO_ENDPOINT
 * or OUTBOX_TOO_MANY with why, or a failure (reported). */
int outbox_redeliver_since(struct db *db, const struct config *cfg, const char *endpoint,
			   const char *since, const char *state, const char *org, const char *who,
			   const char *via, long *queued, char *why, size_t why_size);

#endif
