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

/* Send until no delivery is due now and none is in flight (`run --once`).
 * Returns 0, or -1 on a database error. */
int deliver_until_idle(struct deliver *d, struct deliver_stats *st);

/* One turn of the daemon's loop: start due deliveries in free slots (if
 * start_new), drive the transfers, record those that ended, then wait up
 * to wait_ms for the network, the next retry to come due, or deliver_wake.
 * Adds to st. Returns the transfers still in flight, or -1 on a database
 * error. */
int deliver_step(struct deliver *d, int start_new, int wait_ms, struct deliver_stats *st);

/* The summary line of what was sent, in the log. */
void deliver_log(const struct deliver_stats *st);

/* Cut a deliver_step's wait short: new deliveries were recorded, or it is
 * time to stop. The one call that is safe from another thread. */
void deliver_wake(struct deliver *d);

/* At shutdown: hang up on the transfers still in flight and make them due
 * at once, so the next start sends them again (same webhook-id) without
 * waiting for their lease. Returns 0 or -1. */
int deliver_abandon(struct deliver *d);

#endif
