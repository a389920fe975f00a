/*
 * daemon.c — the service loop of `rollcall run`.
 *
 * Two threads, each with its own SQLite connection, meet only in the
 * database (docs/ARCHITECTURE.md, "The service", lists these and the
 * threads a batch and the sandbox start):
 *
 *  - the evaluator (the calling thread) sleeps in poll() on a signalfd and
 *    an inotify descriptor. Every DAEMON_WATCH_MS it reads PRAGMA
 *    data_version, which moves only when another connection commits: other
 *    processes writing to incoming, `rollcall import`, the sender. Only then
 *    does it look for work, with a read that takes no lock; it runs engine
 *    batches while there is work, and wakes the sender after a batch that
 *    recorded actions. Once a minute it expires the proposed legal steps
 *    nobody decided in time (signoff.c: a read, then a short write
 *    transaction only if one is due).
 *  - the sender runs the libcurl multi loop over the outbox (deliver.c),
 *    waiting in curl_multi_poll for the network, the next retry, or a wake.
 *
 * So a slow endpoint never holds up evaluation, and a burst of marks never
 * starves delivery: they share only SQLite's write lock, held for one batch
 * or one outbox update at a time. Signals are blocked in every thread and
 * read from the signalfd between batches and, while policies run, between
 * pupils: SIGTERM then gives the batch under way up before it records
 * anything (it is evaluated whole after the restart), and the sender waits
 * for its transfers at most the request timeout (capped at
 * DAEMON_GRACE_MAX_MS).
 */
#include "daemon.h"

#include "audit.h"
#include "date.h"
#include "deliver.h"
#include "engine.h"
#include "log.h"
#include "retention.h"
#include "signoff.h"
#include "util.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#define BUSY_RETRY_MS	   1000	 /* after the write lock stayed taken past the busy timeout */
#define SENDER_IDLE_MS	   1000	 /* an idle sender still looks at the outbox this often */
#define SUMMARY_MS	   10000 /* a busy sender logs what it sent at most this often */
#define FULL_LOG_MS	   60000 /* a disk still full is logged this often */
#define FILE_CHECK_MS	   2000 /* how often the database's path is checked against the file open */
#define EXPIRE_MS	   60000    /* how often proposals past their day are expired */
#define RETENTION_MS	   86400000 /* how often what is past its retention period goes */
#define RETENTION_FIRST_MS 5000	    /* the first time: once the service has settled in */
#define RETENTION_BUSY_MS  100	    /* retention waits no longer than this for the lock */
#define RETENTION_TURN	   0.5	    /* seconds of retention work between two batches */

/* ---- the sender ----
 *
 * It owns a copy of the configuration (config_copy): the evaluator's is
 * changed by a reload while the sender runs. A reload hands it a new copy
 * through next, under lock; the sender takes it between turns, once the
 * transfers in flight have ended (starting no new one meanwhile), since a
 * transfer's endpoint is an index into the set it started with. */

struct sender {
	pthread_t thread;
	struct db db;
	struct deliver *d;
	struct config *cfg;   /* the sender's own: endpoints, secrets, delivery */
	pthread_mutex_t lock; /* guards next */
	struct config *next;  /* reloaded, not yet taken */
	atomic_int stop, failed;
};

static void config_drop(struct config *c)
{
	if (c) {
		config_free(c);
		free(c);
	}
}

/* Take a reloaded configuration if one waits (into *waiting) and nothing is
 * in flight. Returns 1 while one still waits. */
static int take_reload(struct sender *s, struct config **waiting)
{
	pthread_mutex_lock(&s->lock);
	if (s->next) {
		config_drop(*waiting); /* reloaded twice before it could be taken */
		*waiting = s->next;
		s->next = NULL;
	}
	pthread_mutex_unlock(&s->lock);
	if (!*waiting || deliver_inflight(s->d) > 0)
		return *waiting != NULL;
	struct config *old = s->cfg;
	s->cfg = *waiting;
	*waiting = NULL;
	deliver_use(s->d, s->cfg);
	config_drop(old);
	return 0;
}

static void *send_loop(void *arg)
{
	struct sender *s = arg;
	struct deliver_stats st = { 0 };
	struct config *waiting = NULL;
	long long summary_at = monotonic_ms() + SUMMARY_MS;

	while (!atomic_load(&s->stop)) {
		int reloading = take_reload(s, &waiting);
		int inflight = deliver_step(s->d, !reloading, SENDER_IDLE_MS, &st);
		if (inflight == DB_BUSY || inflight == DB_FULL) {
			/* the lock held past the busy timeout, or the disk full (the
			 * evaluator waits that out too): reported; try again */
			struct timespec nap = { BUSY_RETRY_MS / 1000, 0 };
			nanosleep(&nap, NULL);
			continue;
		}
		if (inflight < 0) {
			atomic_store(&s->failed, 1);
			break;
		}
		if (st.sent && (inflight == 0 || monotonic_ms() >= summary_at)) {
			deliver_log(&st);
			memset(&st, 0, sizeof st);
			summary_at = monotonic_ms() + SUMMARY_MS;
		}
	}
	config_drop(waiting);
	/* Stopping: no new transfers; those in flight get until the grace
	 * period ends, and any still going are given back for the next start. */
	long long grace = s->cfg->delivery.timeout_ms < DAEMON_GRACE_MAX_MS
				  ? s->cfg->delivery.timeout_ms
				  : DAEMON_GRACE_MAX_MS;
	long long deadline = monotonic_ms() + grace;
	int inflight = 1;
	while (inflight > 0 && monotonic_ms() < deadline)
		inflight = deliver_step(s->d, 0, 100, &st);
	if (deliver_abandon(s->d) < 0)
		atomic_store(&s->failed, 1);
	if (st.sent)
		deliver_log(&st);
	return NULL;
}

static struct sender *sender_start(const char *path, const struct config *cfg)
{
	struct sender *s = xcalloc(1, sizeof *s);
	s->cfg = xmalloc(sizeof *s->cfg);
	config_copy(s->cfg, cfg);
	pthread_mutex_init(&s->lock, NULL);
	if (db_open(&s->db, path, DB_EXISTING) < 0)
		goto fail;
	if (!(s->d = deliver_new(&s->db, s->cfg)))
		goto fail;
	if (pthread_create(&s->thread, NULL, send_loop, s) != 0) {
		error("cannot start the delivery thread");
		goto fail;
	}
	return s;
fail:
	deliver_free(s->d);
	db_close(&s->db);
	pthread_mutex_destroy(&s->lock);
	config_drop(s->cfg);
	free(s);
	return NULL;
}

/* Hand the sender a copy of cfg, for it to take between its turns. */
static void sender_reload(struct sender *s, const struct config *cfg)
{
	struct config *copy = xmalloc(sizeof *copy);
	config_copy(copy, cfg);
	pthread_mutex_lock(&s->lock);
	struct config *old = s->next;
	s->next = copy;
	pthread_mutex_unlock(&s->lock);
	config_drop(old);
	deliver_wake(s->d);
}

/* Ask the sender to stop, wait for it; returns -1 if it had failed. */
static int sender_stop(struct sender *s)
{
	atomic_store(&s->stop, 1);
	deliver_wake(s->d);
	pthread_join(s->thread, NULL);
	int failed = atomic_load(&s->failed);
	deliver_free(s->d);
	db_close(&s->db);
	pthread_mutex_destroy(&s->lock);
	config_drop(s->cfg);
	config_drop(s->next);
	free(s);
	return failed ? -1 : 0;
}

/* ---- watching policy files ---- */

static void watch_dirs(int fd, const struct config *cfg)
{
	const char *dirs[] = { cfg->policies, cfg->scripts };
	for (int i = 0; fd >= 0 && i < 2; i++)
		if (inotify_add_watch(fd, dirs[i],
				      IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE |
					      IN_CREATE | IN_ONLYDIR) < 0)
			log_event(LOG_WARN, "not watching a directory: reload with SIGHUP", "dir",
				  dirs[i], "error", strerror(errno), NULL);
}

/* Drain the inotify descriptor: 1 if a *.lua file (or a directory itself)
 * changed. Editors' swap and backup files are not policies. */
static int lua_changed(int fd)
{
	char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
	int changed = 0;
	ssize_t n;
	while ((n = read(fd, buf, sizeof buf)) > 0) {
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;
			size_t len = ev->len ? strlen(ev->name) : 0;
			if (!ev->len || ev->mask & IN_IGNORED ||
			    (len > 4 && !strcmp(ev->name + len - 4, ".lua")))
				changed = 1;
			p += sizeof *ev + ev->len;
		}
	}
	return changed;
}

static void reload_error(const char *path, const char *err, int kept)
{
	log_event(LOG_ERROR,
		  kept ? "policy not reloaded: the previous version keeps running"
		       : "policy not loaded",
		  "file", path, "error", err, NULL);
}

static void reload(struct engine *e, int fd)
{
	watch_dirs(fd, e->cfg); /* again: a directory replaced since is watched anew */
	int failed = engine_load_policies(e, NULL, 0, reload_error);
	if (failed < 0)
		return; /* the directory could not be read: all stay as they were */
	char count[16], bad[16];
	snprintf(count, sizeof count, "%d", e->set.npolicies);
	snprintf(bad, sizeof bad, "%d", failed);
	log_event(failed ? LOG_WARN : LOG_INFO, "policies reloaded", "count", count, "failed", bad,
		  NULL);
}

/* ---- reloading rollcall.conf ---- */

/* The settings a reload does not take, each read once at start: say which
 * of them the file now changes, so that nobody believes them in force. */
static void unreloaded(const struct config *now, const struct config *next)
{
	char keys[64] = "";
	const char *changed[5] = {
		strcmp(now->database, next->database) ? "database" : NULL,
		strcmp(now->policies, next->policies) ? "policies" : NULL,
		strcmp(now->scripts, next->scripts) ? "scripts" : NULL,
		memcmp(&now->delivery, &next->delivery, sizeof now->delivery) ? "delivery" : NULL,
		now->policy_memory != next->policy_memory ||
				now->policy_instructions != next->policy_instructions ||
				now->batch_rows != next->batch_rows ||
				now->batch_pupils != next->batch_pupils
			? "limits"
			: NULL,
	};
	for (int i = 0; i < 5; i++)
		if (changed[i])
			snprintf(keys + strlen(keys), sizeof keys - strlen(keys), "%s%s",
				 *keys ? "," : "", changed[i]);
	if (*keys)
		log_event(LOG_WARN,
			  "rollcall.conf: changed settings that take effect at the next start",
			  "keys", keys, NULL);
}

/* SIGHUP: read rollcall.conf again and use its endpoints and their secrets
 * (when delivering): the evaluator's at once (between batches, on this
 * thread: new actions for a new endpoint are pending, not no_endpoint),
 * the sender's between its turns. If the file or any secret is invalid
 * (logged as FILE:LINE), the endpoints and secrets in use stay. */
static void reload_config(struct config *cfg, struct sender *sender, int secrets)
{
	struct config next;
	if (!cfg->path) {
		log_event(LOG_INFO, "no rollcall.conf was read at start: no endpoints to reload",
			  NULL);
		return;
	}
	if (config_load(&next, cfg->path, 0) < 0)
		goto refused;
	if (secrets && config_load_secrets(&next) < 0) {
		config_free(&next);
		goto refused;
	}
	unreloaded(cfg, &next);
	config_swap_endpoints(cfg, &next);
	config_free(&next); /* and with it the old endpoints and secrets */
	if (sender)
		sender_reload(sender, cfg);
	char count[16];
	snprintf(count, sizeof count, "%d", cfg->nendpoints);
	log_event(LOG_INFO, "endpoints reloaded", "file", cfg->path, "endpoints", count, NULL);
	return;
refused:
	log_event(LOG_ERROR, "rollcall.conf not reloaded: the endpoints and secrets in use stay",
		  "file", cfg->path, NULL);
}

/* ---- the evaluator ---- */

/* Signals, read from the signalfd between batches and, while policies
 * run, between pupils (engine.c asks through e->interrupted): SIGTERM
 * then gives the batch up at once, and its pupils are evaluated again
 * after the restart. */
struct signals {
	int fd;
	int stop, reload, hup; /* hup: rollcall.conf too */
};

static void read_signals(struct signals *sig)
{
	struct signalfd_siginfo si;
	while (read(sig->fd, &si, sizeof si) == sizeof si) {
		if (si.ssi_signo == SIGHUP) {
			log_event(LOG_INFO, "SIGHUP: reloading endpoints, secrets and policies",
				  NULL);
			sig->reload = sig->hup = 1;
		} else if (!sig->stop) {
			log_event(LOG_INFO, "stopping", "signal",
				  si.ssi_signo == SIGINT ? "SIGINT" : "SIGTERM", NULL);
			sig->stop = 1;
		}
	}
}

static int interrupted(void *arg)
{
	struct signals *sig = arg;
	read_signals(sig);
	return sig->stop;
}

/* A batch the disk would not take (full, or the file size limit): never
 * an exit, which systemd would answer with a restart and the same batch,
 * for ever. Smaller batches, tried again after BUSY_RETRY_MS; logged when
 * the size changes, and at least every FULL_LOG_MS while it lasts. */
static void disk_full(struct engine *e, long long *logged_at)
{
	int smaller = engine_shrink(e);
	if (!smaller && monotonic_ms() - *logged_at < FULL_LOG_MS)
		return;
	*logged_at = monotonic_ms();
	char rows[24];
	snprintf(rows, sizeof rows, "%ld", engine_batch_rows(e));
	log_event(LOG_ERROR,
		  smaller ? "cannot write the database (is the disk full?): trying again with "
			    "smaller batches"
			  : "cannot write the database (is the disk full?): still trying",
		  "db", e->db->path, "batch_rows", rows, NULL);
}

static long long data_version(sqlite3_stmt *st)
{
	long long v = -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return v;
}

/* Does the database's path still name the file this connection has open?
 * A file renamed over it (a restored backup) or its deletion leaves the
 * service writing into an inode nobody else can see: stop, exit 1, and let
 * systemd start it again on whatever the path names now. SQLite compares
 * the path's inode with the one it opened (a stat), at most every
 * FILE_CHECK_MS. Returns 1 if the file is no longer there. */
static int db_file_gone(struct db *db, long long *check_at)
{
	int moved = 0;
	if (monotonic_ms() < *check_at)
		return 0;
	*check_at = monotonic_ms() + FILE_CHECK_MS;
	if (sqlite3_file_control(db->h, "main", SQLITE_FCNTL_HAS_MOVED, &moved) != SQLITE_OK ||
	    !moved)
		return 0;
	log_event(LOG_ERROR,
		  "the database file was replaced or deleted since it was opened: stopping "
		  "(a restart opens what the path names now)",
		  "db", db->path, NULL);
	return 1;
}

/* Once a day (the first time RETENTION_FIRST_MS after start), what is past
 * its retention period (retention.h), a turn of at most RETENTION_TURN
 * seconds of work between batches, on a connection
 * of its own: the evaluator's then sees the removals as another writer's
 * (data_version) and reads the registers afresh. Returns what
 * retention_apply returns (1: more to do). A failure is logged and tried
 * again the next day: it never stops the service. */
static int retention_turn(const char *path, const struct config *cfg)
{
	struct db own;
	struct retention_counts n;
	if (db_open(&own, path, DB_EXISTING) < 0)
		return DB_FAILED;
	/* the evaluator and the feeders come first: busy, it tries again later */
	sqlite3_busy_timeout(own.h, RETENTION_BUSY_MS);
	int rc = retention_apply(&own, cfg, date_today(), RETENTION_TURN, AUDIT_SERVICE, "service",
				 &n);
	db_close(&own);
	char removed[32], longest[32];
	snprintf(removed, sizeof removed, "%lld",
		 n.marks + n.amendments + n.registers + n.actions + n.cases + n.bodies +
			 n.responses + n.rejected);
	snprintf(longest, sizeof longest, "%.3f", n.longest_lock);
	if (rc == 0 && n.transactions)
		log_event(LOG_INFO, "retention", "rows", removed, "longest_lock_seconds", longest,
			  NULL);
	else if (rc < 0 && rc != DB_BUSY)
		log_event(LOG_ERROR, "retention failed: tried again tomorrow", "db", path, NULL);
	return rc;
}

int daemon_run(struct db *db, struct config *cfg, int deliver)
{
	struct engine e;
	struct sender *sender = NULL;
	sqlite3_stmt *version = NULL;
	int status = -1, sfd = -1, ifd = -1;
	const char *failed = NULL; /* where the failure that stopped it was */
	sigset_t mask, old;

	/* Blocked before the sender starts, so both threads inherit it and the
	 * signals arrive only through sfd. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &mask, &old);
	if ((sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC)) < 0) {
		error("cannot read signals: %s", strerror(errno));
		goto out;
	}
	if ((ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) < 0)
		log_event(LOG_WARN, "cannot watch policy files: reload with SIGHUP", "error",
			  strerror(errno), NULL);
	watch_dirs(ifd, cfg);

	if (engine_open(&e, db, cfg) < 0)
		goto out;
	struct signals sig = { .fd = sfd };
	e.interrupted = interrupted;
	e.interrupt_arg = &sig;
	if (engine_load_policies(&e, NULL, 0, reload_error) < 0 ||
	    !(version = db_prepare(db, "PRAGMA data_version")))
		goto done;
	if (deliver && !(sender = sender_start(db->path, cfg)))
		goto done;
	char count[16];
	snprintf(count, sizeof count, "%d", e.set.npolicies);
	log_event(LOG_INFO, "running", "policies", count, "delivery", deliver ? "on" : "off", "db",
		  db->path, NULL);

	long long seen = -1, reload_at = 0, full_logged_at = 0, check_at = 0, expire_at = 0,
		  retention_at = monotonic_ms() + RETENTION_FIRST_MS;
	int work = 1, busy = 0, stop = 0, hup = 0;
	status = 0;
	while (!stop) {
		if (db_file_gone(db, &check_at)) {
			status = -1;
			break;
		}
		if (reload_at && monotonic_ms() >= reload_at) {
			reload_at = 0;
			if (hup)
				reload_config(cfg, sender, deliver);
			hup = 0;
			reload(&e, ifd);
			work = 1; /* pupils waiting for a version that now loads: at once */
		}
		if (monotonic_ms() >= expire_at) {
			/* busy: again a second later; full: at the next minute,
			 * as the batches shrink; failed: stop, as a batch would */
			long n = signoff_expire(&e.actions, "service");
			expire_at = monotonic_ms() + (n == DB_BUSY ? BUSY_RETRY_MS : EXPIRE_MS);
			if (n > 0 && sender)
				deliver_wake(sender->d);
			if (n < 0 && n != DB_BUSY && n != DB_FULL) {
				failed = "expiring proposals";
				status = -1;
				break;
			}
		}
		if (monotonic_ms() >= retention_at) {
			int rc = retention_turn(db->path, cfg);
			retention_at = monotonic_ms() + (rc == 1	 ? 0
							 : rc == DB_BUSY ? BUSY_RETRY_MS
									 : RETENTION_MS);
		}
		if (work) {
			struct batch_stats st;
			int rc = engine_batch(&e, &st);
			if (rc > 0) {
				engine_log_batch(&st);
				if (st.actions && sender)
					deliver_wake(sender->d);
			} else if (rc == DB_FULL) {
				disk_full(&e, &full_logged_at);
			} else if (rc < 0 && rc != DB_BUSY) {
				failed = "evaluation"; /* what it was is logged just before */
				status = -1;
				break;
			}
			work = rc != 0; /* did work: look again; busy or full: try again */
			busy = rc < 0;
		}
		int timeout = work ? (busy ? BUSY_RETRY_MS : 0) : DAEMON_WATCH_MS;
		if (reload_at) {
			long long left = reload_at - monotonic_ms();
			timeout = left < 0 ? 0 : left < timeout ? (int)left : timeout;
		}
		struct pollfd fds[2] = { { sfd, POLLIN, 0 }, { ifd, POLLIN, 0 } };
		poll(fds, ifd >= 0 ? 2 : 1, timeout);

		read_signals(&sig);
		if (sig.reload && !reload_at)
			reload_at = monotonic_ms();
		hup |= sig.hup;
		sig.reload = sig.hup = 0;
		stop = sig.stop;
		if (ifd >= 0 && fds[1].revents && lua_changed(ifd))
			reload_at = monotonic_ms() + DAEMON_SETTLE_MS;
		if (sender && atomic_load(&sender->failed)) {
			failed = "delivery";
			status = -1;
			break;
		}
		if (!work) {
			long long v = data_version(version);
			double retry = engine_retry_at(&e);
			if (v != seen) {
				seen = v;
				work = engine_pending(&e) != 0;
			}
			/* a cut-off policy due to be tried again */
			work |= retry > 0 && monotonic_seconds() >= retry;
		}
	}
done:
	if (sender && sender_stop(sender) < 0)
		status = -1;
	sqlite3_finalize(version);
	engine_close(&e);
	log_event(status ? LOG_ERROR : LOG_INFO, status ? "stopped after an error" : "stopped",
		  "in", failed, NULL);
out:
	if (ifd >= 0)
		close(ifd);
	if (sfd >= 0)
		close(sfd);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return status;
}
