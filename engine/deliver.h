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

#include <stdint.h>

#define DELIVER_RESPONSE_MAX (1 << 20) /* bytes of a response read before hanging up */

struct deliver_stats {
	long sent, delivered, retried, dead;
};

struct deliver;

/* Every call that can fail returns the failure as an enum db_result
 * (db.h): DB_BUSY (the write lock stayed taken: try again later), DB_FULL
 * (the disk refused a write), or DB_FAILED — a database error, or libcurl
 * or memory failing the sender itself: nothing worth trying again. */

/* A sender over db with cfg's endpoints (their secrets already loaded);
 * cfg must outlive it, or the next deliver_use. */
struct deliver *deliver_new(struct db *db, const struct config *cfg);
void deliver_free(struct deliver *d);

/* Send to cfg's endpoints from now on (a reload of rollcall.conf): only
 * with no transfer in flight (deliver_inflight is 0), whose endpoint is one
 * of the set it started with. The delivery settings stay those deliver_new
 * had. Pending deliveries for an endpoint cfg no longer has are marked
 * no_endpoint on the next turn. */
void deliver_use(struct deliver *d, const struct config *cfg);

/* Transfers started and not yet recorded. */
int deliver_inflight(const struct deliver *d);

/* Send until no delivery is due now and none is in flight (`run --once`).
 * Returns DB_DONE or the failure. */
int deliver_until_idle(struct deliver *d, struct deliver_stats *st);

/* One turn of the daemon's loop: start due deliveries in free slots (if
 * start_new), drive the transfers, record those that ended, then wait up
 * to wait_ms for the network, the next retry to come due, or deliver_wake.
 * Adds to st. Returns the transfers still in flight, or the failure. The
 * write lock found taken is not one: what could not be written waits for
 * a later turn. */
int deliver_step(struct deliver *d, int start_new, int wait_ms, struct deliver_stats *st);

/* The summary line of what was sent, in the log. */
void deliver_log(const struct deliver_stats *st);

/* The wait in ms before retry k (k >= 1) of a delivery: exponential
 * backoff with full jitter (AWS Architecture Blog, "Exponential Backoff
 * And Jitter", 2015), a draw uniform over [0, min(cap, base * 2^(k-1))],
 * so that endpoints failing together are not retried together. *rng is
 * the state of the random source (xorshift64*, not for secrets), never 0;
 * each call advances it, and the same state gives the same draws. */
long long deliver_backoff(long long base, long long cap, int k, uint64_t *rng);

/* Cut a deliver_step's wait short: new deliveries were recorded, or it is
 * time to stop. The one call that is safe from another thread. */
void deliver_wake(struct deliver *d);

/* At shutdown: hang up on the transfers still in flight and make them due
 * at once, so the next start sends them again (same webhook-id) without
 * waiting for their lease. Returns DB_DONE or the failure. */
int deliver_abandon(struct deliver *d);

#endif
