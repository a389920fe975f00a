/*
 * console.h — the web console's side of `rollcall serve`: its page and
 * assets, carried in the binary, and the sessions people sign in to.
 *
 * A person signs in with their API token, pasted once, or with a one-time
 * link `rollcall token add --link` made (valid CONSOLE_LINK_SECONDS, used
 * once); either opens a session whose cookie then stands for that token —
 * its organisation, role and person — until it has been idle for
 * CONSOLE_IDLE_SECONDS, the person signs out, or the token is revoked or
 * expires. Only the SHA-256 of a session cookie or a link is stored, as for
 * tokens: the database never holds what would let someone in.
 */
#ifndef ROLLCALL_CONSOLE_H
#define ROLLCALL_CONSOLE_H

#include "db.h"

#include <stddef.h>

#define CONSOLE_COOKIE	     "rollcall_session"
#define CONSOLE_IDLE_SECONDS (8 * 3600)
#define CONSOLE_LINK_SECONDS (24 * 3600)
#define CONSOLE_SECRET_CHARS 43 /* as a token's secret (token_secret): TOKEN_SECRET */

/* What every console response carries: scripts, styles, images and
 * requests from the server only, no inline script or style, no framing. */
#define CONSOLE_CSP                                                                                \
	"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "                \
	"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

struct console_asset {
	const char *path; /* as requested: "/", "/console/console.js" */
	const char *type; /* its Content-Type */
	const unsigned char *data;
	size_t len;
};

/* The asset served at path, into *a: 1, or 0 if there is none. */
int console_asset(const char *path, struct console_asset *a);

/* Open a session for a token (its text, as pasted) or a link code (the
 * other NULL): writes the cookie's value (CONSOLE_SECRET_CHARS and a NUL)
 * to cookie and returns the token's id; 0 when the token or link is not
 * one that may sign in (unknown, revoked, expired; a link used or past its
 * day); a failure (reported) is negative. A link is used up in the same
 * transaction that opens its session. */
long long console_session_open(struct db *db, const char *token, const char *link,
			       char cookie[CONSOLE_SECRET_CHARS + 1]);

/* The id of the token the session cookie stands for (and its idle time
 * starts again), or 0 when there is no such session, it has been idle too
 * long or was closed, or its token no longer may sign in; negative on a
 * failure (reported). */
long long console_session_token(struct db *db, const char *cookie);

/* Sign out: the session ends. Returns DB_DONE or the failure. */
int console_session_close(struct db *db, const char *cookie);

/* A one-time sign-in link's code for token id, into code. Returns DB_DONE
 * or the failure (reported). */
int console_link_new(struct db *db, long long token_id, char code[CONSOLE_SECRET_CHARS + 1]);

/* The SHA-256 (hex) of a cookie or a link's code, as it is stored. */
void console_secret_hash(const char *secret, char hex[65]);

#endif
