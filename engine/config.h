/*
 * config.h — rollcall.conf: Lua syntax read as data in an empty state (no
 * function is callable), every key checked. Relative paths in it are taken
 * from the directory the file is in.
 *
 *   database  = "rollcall.db"
 *   policies  = "policies"
 *   scripts   = "scripts"
 *   endpoints = { name = { url = "...", secret_env = "..." | secret_file = "..." |
 *                          secrets = { { file = "..." | env = "...",
 *                                        expires = "YYYY-MM-DDTHH:MM:SSZ" }, ... },
 *                          insecure = false, rate_per_second = N,
 *                          disable_after_hours = 120 }, ... }
 *   delivery  = { timeout_ms = 10000, concurrency = 32, per_endpoint = 8,
 *                 max_attempts = 10, backoff_ms = 5000, backoff_max_ms = 3600000 }
 *   limits    = { policy_memory_mb = 64, policy_instructions = 10000000,
 *                 batch_rows = 100000, batch_pupils = 50000 }
 *   signoff_days = 20
 *   retention = { marks_years = 6, actions_years = 6, payloads_days = 90 }
 */
#ifndef ROLLCALL_CONFIG_H
#define ROLLCALL_CONFIG_H

#include "sign.h"

#include <stddef.h>

/* Secrets an endpoint may list: enough for a rotation under way (the new,
 * the old, one still older) with room to spare. */
#define ENDPOINT_SECRETS_MAX 4

/* One secret of an endpoint, named by where it is read from. */
struct endpoint_secret {
	char *env, *file;     /* one of them */
	long long expires_ms; /* Unix ms from which it signs nothing; 0: never */
	int loaded;	      /* key holds it (config_load_secrets): not when it had
			       * expired already, so its file may be gone */
	struct sign_key key;  /* never logged or stored, wiped with OPENSSL_cleanse
			       * by config_free */
};

/* disable_after_hours: Svix disables an endpoint after 5 days of failure */
#define ENDPOINT_DISABLE_HOURS_DEFAULT 120.0
#define ENDPOINT_DISABLE_HOURS_MIN     0.001 /* 3.6 s: for trying it out */
#define ENDPOINT_DISABLE_HOURS_MAX     8760.0
#define ENDPOINT_RATE_MAX	       100000

struct endpoint_conf {
	char *name, *url;
	int insecure;
	int line; /* where the endpoint is: the line its table starts on */
	/* secret_env or secret_file is one secret that never expires;
	 * secrets = { ... } lists several, in the order written */
	struct endpoint_secret secrets[ENDPOINT_SECRETS_MAX];
	int nsecrets;
	long rate_per_second;	    /* deliveries started per second at most; 0: no cap */
	double disable_after_hours; /* failing every attempt this long disables it */
};

struct config {
	char *path; /* NULL when there is no config file */
	char *database, *policies, *scripts;
	struct endpoint_conf *endpoints;
	int nendpoints;
	struct {
		long timeout_ms, concurrency, per_endpoint, max_attempts, backoff_ms,
			backoff_max_ms;
	} delivery;
	size_t policy_memory;	  /* bytes */
	long policy_instructions; /* per call */
	long batch_rows;	  /* incoming rows taken per batch (one transaction) */
	long batch_pupils;	  /* changed pupils evaluated per batch */
	long signoff_days;	  /* school days a proposed legal step waits for a decision */
	/* How long personal data is kept (retention.h, docs/PRIVACY.md). */
	struct {
		long marks_years;   /* marks and their amendments, after their date */
		long actions_years; /* actions, cases, deliveries, after they were recorded */
		long payloads_days; /* webhook bodies, responses, errors; rejected rows */
	} retention;
	/* serve = { ... }: the API (serve.c, docs/SECURITY.md for each limit) */
	struct {
		char *listen; /* "127.0.0.1:8443", "[::1]:8443" */
		char *url;    /* how people reach it (a proxy's address): sign-in links */
		char *tls_cert, *tls_key; /* PEM files; both or neither */
		long threads;		  /* the thread pool */
		long max_connections;	  /* in all */
		long per_ip;		  /* connections from one address */
		long timeout_s;		  /* a connection idle this long is closed */
		long request_s;		  /* a request not complete in this long is refused */
		long json_max_kb;	  /* a JSON request body */
		long policy_max_kb;	  /* a policy's text (PUT /api/v1/policy, check) */
		long auth_failures;	  /* failed authentications an address may make a minute */
		long nice;		  /* the server's niceness: the evaluator first */
	} serve;
};

/* School Attendance (Pupil Registration) (England) Regulations 2024 (SI
 * 2024/208), reg 7: every entry in a register is kept for at least six
 * years (three under the 2006 Regulations). The DfE framework limits penalty notices to 2 in 3
 * years, counted from the approved steps: they must outlive that. */
#define RETENTION_MARKS_YEARS_MIN   6
#define RETENTION_ACTIONS_YEARS_MIN 3

/* A proposed legal step expires if no one decides it within signoff_days
 * school days (weekdays) after the day it was proposed. */
#define SIGNOFF_DAYS_DEFAULT 20
#define SIGNOFF_DAYS_MIN     1
#define SIGNOFF_DAYS_MAX     200

/* Read path; if path is NULL or (when optional) missing, use the defaults.
 * Errors are reported as "FILE:LINE: reason"; returns 0 or -1. */
int config_load(struct config *c, const char *path, int optional);
void config_free(struct config *c);

/* Read every endpoint's secrets from their variables or files (which must
 * not be readable by group or others, and must hold one line: the secret,
 * and at most line breaks after it) and decode them. A secret already
 * expired is not read (its file may be gone), but an endpoint needs one
 * that has not. Errors are "FILE:LINE:" of the endpoint in the config, and
 * name the variable or file, never the secret. Returns 0 or -1. */
int config_load_secrets(struct config *c);

/* Read one secret (s's env or file, as config_load_secrets does) into
 * s->key. Returns 0, or -1 with why in why (naming the file or variable,
 * never the secret). */
int config_read_secret(struct endpoint_secret *s, char *why, size_t why_size);

/* The secrets of e that sign at now (Unix ms): loaded and not expired.
 * Fills keys (at most ENDPOINT_SECRETS_MAX) and returns how many; with
 * until, also the earliest expiry among them (0: none expires). */
int config_signing_keys(const struct endpoint_conf *e, long long now,
			const struct sign_key *keys[ENDPOINT_SECRETS_MAX], long long *until);

/* "YYYY-MM-DD" (midnight UTC) or "YYYY-MM-DDTHH:MM:SSZ" as Unix ms.
 * Returns 0, or -1 if s is neither (or not a real time). */
int config_parse_time(const char *s, long long *ms);

/* A deep copy of from (every string, every endpoint and its key) in to,
 * for another thread to own; config_free frees it. */
void config_copy(struct config *to, const struct config *from);

/* Exchange a's endpoints (and their keys) with b's: a reload keeps the
 * rest of a as it was, and b, freed, takes the old endpoints with it. */
void config_swap_endpoints(struct config *a, struct config *b);

/* The endpoint called name, or NULL. */
const struct endpoint_conf *config_endpoint(const struct config *c, const char *name);

#endif
