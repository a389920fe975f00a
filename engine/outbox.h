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

#endif
