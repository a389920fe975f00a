/*
 * serve.h — `rollcall serve`: the API (api.h) over HTTP, by libmicrohttpd.
 *
 * libmicrohttpd runs its own polling threads (a pool of serve.threads), so
 * every request is answered on one of them, each with its own database
 * connection (api.c); the evaluator, another process, is never waited on
 * but for the short write transactions of a change. What it holds to, each
 * from rollcall.conf's serve = { ... } (docs/SECURITY.md):
 *   - connections in all, and from one address;
 *   - a connection idle for timeout_s is closed; a request whose body is
 *     not in after request_s is dropped;
 *   - a body longer than the route takes is 413, refused from its
 *     Content-Length before it is read;
 *   - TLS (GnuTLS, through libmicrohttpd) from tls_cert and tls_key, and
 *     no listening on an address that is not loopback without it.
 */
#ifndef ROLLCALL_SERVE_H
#define ROLLCALL_SERVE_H

#include "config.h"

/* Serve cfg->serve.listen with the database at db_path until SIGTERM or
 * SIGINT: then stop accepting, finish the requests in flight (for at most
 * SERVE_DRAIN_S), return 0. SIGHUP reads tls_cert and tls_key again; if
 * they do not make a working server, the old ones stay. Returns -1 if it
 * cannot start (reported). */
#define SERVE_DRAIN_S 30
int serve_run(const struct config *cfg, const char *db_path);

/* Is host:port (IPv4 "127.0.0.1:8443", IPv6 "[::1]:8443") an address to
 * listen on? Fills addr (a struct sockaddr_storage) and its length, and
 * *loopback; -1 with why if not. */
struct sockaddr_storage;
int serve_parse_listen(const char *listen, struct sockaddr_storage *addr, unsigned *len,
		       int *loopback, char *why, unsigned size);

#endif
