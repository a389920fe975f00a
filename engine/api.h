/*
 * api.h — the tenant API's requests and answers, with no HTTP library in
 * sight: serve.c turns each libmicrohttpd request into an api_request and
 * sends back the api_response; the tests call the route table directly.
 *
 * Every request goes through api_handle, the one place where it is
 * authenticated (Bearer token -> SHA-256 -> a row in `tokens`, compared
 * in constant time, not revoked, not expired), rate-limited (failed
 * authentications per address), matched against the route table, and
 * held to its organisation: an id in the path that is not the token's
 * organisation's is 404 before any handler runs, whatever the role, and a
 * role too low is 403 only for what is the organisation's. A handler gets
 * the token's organisation as its scope and nothing else to choose from.
 */
#ifndef ROLLCALL_API_H
#define ROLLCALL_API_H

#include "config.h"

#include <stddef.h>

struct api;

/* The API over the database at db_path with cfg's limits and policies
 * directory (cfg is kept by pointer: it must outlive the api). Each thread that
 * calls api_handle gets its own connection to the database, opened on its
 * first request and closed when the thread ends. */
struct api *api_new(const struct config *cfg, const char *db_path);
void api_free(struct api *api);

struct api_arg {
	const char *name, *value;
};

#define API_QUERY_MAX 16 /* query arguments a request may carry */

struct api_request {
	const char *method, *path; /* the path as sent: no percent-decoding done */
	const char *client;	   /* the peer's address, for the rate limit */
	const char *authorization, *content_type, *if_match; /* NULL: none sent */
	/* For the web console (console.h): its session cookie's value, the
	 * Origin and Host headers, Accept; tls 1 when the request came over
	 * TLS (the cookie is then Secure, and the origin https). */
	const char *session, *origin, *host, *accept;
	int tls;
	struct api_arg query[API_QUERY_MAX];
	int nquery;	  /* API_QUERY_MAX + 1: more were sent */
	const char *body; /* NULL or body_len bytes */
	size_t body_len;
	int body_over; /* 1: the body was longer than api_body_max (not kept) */
};

/* The report's page is one self-contained file (as `rollcall report`
 * writes it), its script and style inline: allowed inline, and nothing
 * else — no request it could make, no form, no framing. */
#define REPORT_CSP                                                                                 \
	"default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "              \
	"img-src data:; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"

struct api_response {
	int status;
	char *body; /* malloc'd, len bytes; the caller frees it */
	size_t len;
	const char *content_type;
	char etag[72];	      /* "" or the ETag header's value */
	int retry_after;      /* > 0: seconds, for a 429 */
	char set_cookie[192]; /* "" or the Set-Cookie header's value */
	const char *csp;      /* the Content-Security-Policy; NULL: the console's */
};

/* Answer rq. Never fails: a failure inside is a 500 (reported on stderr). */
void api_handle(struct api *api, const struct api_request *rq, struct api_response *rs);

/* The largest body any route takes, in bytes: serve.c refuses longer ones
 * (413) without reading them. */
size_t api_body_max(const struct api *api);

/* The route table as docs/api.yaml names it: method, path pattern (with
 * {name} for a segment), the lowest role (token.h's names). */
struct api_route_info {
	const char *method, *pattern, *role;
};
int api_routes(const struct api_route_info **routes);

#endif
