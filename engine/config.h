/*
 * config.h — rollcall.conf: Lua syntax read as data in an empty state (no
 * function is callable), every key checked. Relative paths in it are taken
 * from the directory the file is in.
 *
 *   database  = "rollcall.db"
 *   policies  = "policies"
 *   scripts   = "scripts"
 *   endpoints = { name = { url = "...", secret_env = "..." | secret_file = "...",
 *                          insecure = false }, ... }
 *   delivery  = { timeout_ms = 10000, concurrency = 32, per_endpoint = 8,
 *                 max_attempts = 10, backoff_ms = 5000, backoff_max_ms = 3600000 }
 *   limits    = { policy_memory_mb = 64, policy_instructions = 10000000,
 *                 batch_rows = 100000, batch_pupils = 50000 }
 *   signoff_days = 20
 */
#ifndef ROLLCALL_CONFIG_H
#define ROLLCALL_CONFIG_H

#include "sign.h"

#include <stddef.h>

struct endpoint_conf {
	char *name, *url, *secret_env, *secret_file;
	int insecure;
	int line;	     /* where the endpoint is: the line its table starts on */
	struct sign_key key; /* after config_load_secrets; never logged or stored,
			      * wiped with OPENSSL_cleanse by config_free */
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
	/* serve = { ... }: the API (serve.c, docs/SECURITY.md for each limit) */
	struct {
		char *listen;		  /* "127.0.0.1:8443", "[::1]:8443" */
		char *url; /* how people reach it (a proxy's address): sign-in links */
		char *tls_cert, *tls_key; /* PEM files; both or neither */
		long threads;		  /* the thread pool */
		long max_connections;	  /* in all */
		long per_ip;		  /* connections from one address */
		long timeout_s;		  /* a connection idle this long is closed */
		long request_s;		  /* a request not complete in this long is refused */
		long json_max_kb;	  /* a JSON request body */
		long policy_max_kb;	  /* a policy's text (PUT /api/v1/policy, check) */
		long auth_failures;	  /* failed authentications an address may make a minute */
	} serve;
};

/* A proposed legal step expires if no one decides it within signoff_days
 * school days (weekdays) after the day it was proposed. */
#define SIGNOFF_DAYS_DEFAULT 20
#define SIGNOFF_DAYS_MIN     1
#define SIGNOFF_DAYS_MAX     200

/* Read path; if path is NULL or (when optional) missing, use the defaults.
 * Errors are reported as "FILE:LINE: reason"; returns 0 or -1. */
int config_load(struct config *c, const char *path, int optional);
void config_free(struct config *c);

/* Read every endpoint's secret from its variable or file (which must not be
 * readable by group or others, and must hold one line: the secret, and at
 * most line breaks after it) and decode it. Errors are "FILE:LINE:" of the
 * endpoint in the config, and name the variable or file, never the secret.
 * Returns 0 or -1. */
int config_load_secrets(struct config *c);

/* A deep copy of from (every string, every endpoint and its key) in to,
 * for another thread to own; config_free frees it. */
void config_copy(struct config *to, const struct config *from);

/* Exchange a's endpoints (and their keys) with b's: a reload keeps the
 * rest of a as it was, and b, freed, takes the old endpoints with it. */
void config_swap_endpoints(struct config *a, struct config *b);

/* The endpoint called name, or NULL. */
const struct endpoint_conf *config_endpoint(const struct config *c, const char *name);

#endif
