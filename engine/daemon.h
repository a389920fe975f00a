/*
 * daemon.h — `rollcall run` without --once: the long-running service.
 *
 * It notices rows other processes insert into incoming (within WATCH_MS),
 * evaluates them batch by batch, and delivers the webhooks they cause, on
 * two threads that share only the database, until SIGTERM or SIGINT. SIGHUP
 * reloads rollcall.conf's endpoints, every secret each lists, their
 * rate_per_second and disable_after_hours (all kept as they were if any is
 * invalid) and the policies; a secret's expiry needs no reload (the sender
 * signs with the secrets valid at each attempt); a change to a *.lua file in the
 * policies or scripts directory reloads the policies. A policy that no
 * longer loads keeps its previous version.
 */
#ifndef ROLLCALL_DAEMON_H
#define ROLLCALL_DAEMON_H

#include "config.h"
#include "db.h"

#define DAEMON_WATCH_MS	    250	  /* how often an idle daemon reads PRAGMA data_version */
#define DAEMON_SETTLE_MS    200	  /* quiet time after a policy file changes, before reload */
#define DAEMON_GRACE_MAX_MS 30000 /* the longest wait for deliveries in flight at stop */

/* Run until SIGTERM or SIGINT. db is the evaluator's connection; the sender
 * opens its own (unless deliver is 0: --no-deliver). The policies are
 * loaded here; cfg's secrets must be loaded already, and a reload replaces
 * cfg's endpoints. Busy (the write lock held past the busy timeout) is
 * tried again a second later, a full disk with smaller batches; any other
 * failure stops it. Returns 0 after a clean stop, -1 after a failure
 * (logged) that a service manager should answer by restarting. */
int daemon_run(struct db *db, struct config *cfg, int deliver);

#endif
