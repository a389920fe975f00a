/*
 * deliver.h — sending the outbox: every pending delivery that is due goes
 * to its endpoint as a signed Standard Webhooks POST through the libcurl
 * multi interface, many at a time, and is marked delivered, retried later
 * with exponential backoff and full jitter, or dead after max_attempts.
 *
 * It reads only `deliveries` (and the action each carries), never policies:
 * evaluation and delivery can crash and restart independently. A delivery
 * being sent is leased (its next_attempt_at moved past the request timeout),
 * so after a crash it is sent again, with the same webhook-id.
 */
#ifndef ROLLCALL_DELIVER_H
#define ROLLCALL_DELIVER_H

#include "config.h"
#include "db.h"

#define DELIVER_RESPONSE_MAX (1 << 20) /* bytes of a response read before hanging up */

struct deliver_stats {
	long sent, delivered, retried, dead;
};

struct deliver;

/* A sender over db with cfg's endpoints (their secrets already loaded). */
struct deliver *deliver_new(struct db *db, const struct config *cfg);
void deliver_free(struct deliver *d);

/* Send until no delivery is due now and none is in flight. Returns 0, or -1
 * on a database error. */
int deliver_until_idle(struct deliver *d, struct deliver_stats *st);

#endif
