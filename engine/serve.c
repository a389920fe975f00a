/*
 * serve.c — libmicrohttpd around the API (serve.h): a request's headers,
 * query and body gathered into an api_request, its api_response sent back.
 *
 * libmicrohttpd calls the access handler several times a request: first
 * with the headers (a body announced longer than any route takes is
 * answered 413 there, before a byte of it is read), then once per piece of
 * the body (kept up to the limit; a request still arriving after
 * request_s is dropped, which bounds a client that trickles), then once
 * more with nothing, when the API answers. Nothing in the path is
 * percent-decoded (the unescape callback leaves it as sent), so api.c sees
 * exactly what came and refuses any encoding.
 *
 * Signals are taken by the main thread alone (sigwait): SIGHUP starts a
 * second server on the same address with the TLS files read again
 * (SO_REUSEPORT) and, once it runs, retires the first — it stops
 * accepting, finishes its requests, stops; if the files do not make a
 * server, the first goes on as it was. SIGTERM or SIGINT retire the
 * server the same way and end the process.
 */
#define _DEFAULT_SOURCE
#include "serve.h"

#include "api.h"
#include "console.h"
#include "file.h"
#include "log.h"
#include "util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define TLS_FILE_MAX (1 << 20)
/* Headers and the connection's buffers: a request's headers past this
 * are refused by libmicrohttpd itself. */
#define CONNECTION_MEMORY (64 << 10)

struct serving {
	const struct config *cfg;
	struct api *api;
	struct sockaddr_storage addr;
	unsigned addr_len;
	size_t body_max;
};

/* One running libmicrohttpd daemon and its requests in flight. */
struct server {
	struct serving *s;
	struct MHD_Daemon *d;
	atomic_int in_flight;
	char *cert, *key; /* PEM, kept for the daemon's life */
};

/* A request's state between libmicrohttpd's calls. */
struct pending {
	struct server *server;
	long long started_ms;
	char *body;
	size_t len;
	int over;
	struct api_request rq;
	char client[64];
};

int serve_parse_listen(const char *listen, struct sockaddr_storage *addr, unsigned *len,
		       int *loopback, char *why, unsigned size)
{
	char host[128];
	const char *colon = strrchr(listen, ':');
	memset(addr, 0, sizeof *addr);
	if (!colon || colon == listen || strlen(listen) >= sizeof host) {
		snprintf(why, size, "expected ADDRESS:PORT, e.g. 127.0.0.1:8443 or [::1]:8443");
		return -1;
	}
	const char *port_text = colon + 1;
	size_t hlen = (size_t)(colon - listen);
	long port = -1;
	if (*port_text && strspn(port_text, "0123456789") == strlen(port_text) &&
	    strlen(port_text) <= 5)
		port = strtol(port_text, NULL, 10);
	if (port < 0 || port > 65535) {
		snprintf(why, size, "the port must be a number from 0 to 65535");
		return -1;
	}
	memcpy(host, listen, hlen);
	host[hlen] = '\0';
	if (host[0] == '[' && host[hlen - 1] == ']') {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)addr;
		host[hlen - 1] = '\0';
		if (inet_pton(AF_INET6, host + 1, &a->sin6_addr) != 1) {
			snprintf(why, size, "%s is not an IPv6 address", host + 1);
			return -1;
		}
		a->sin6_family = AF_INET6;
		a->sin6_port = htons((unsigned short)port);
		*len = sizeof *a;
		*loopback = IN6_IS_ADDR_LOOPBACK(&a->sin6_addr);
		return 0;
	}
	struct sockaddr_in *a = (struct sockaddr_in *)addr;
	if (inet_pton(AF_INET, host, &a->sin_addr) != 1) {
		snprintf(why, size,
			 "%s is not an IPv4 address (names are not looked up: give the address)",
			 host);
		return -1;
	}
	a->sin_family = AF_INET;
	a->sin_port = htons((unsigned short)port);
	*len = sizeof *a;
	*loopback = (ntohl(a->sin_addr.s_addr) >> 24) == 127; /* 127.0.0.0/8 */
	return 0;
}

/* Leave the path as it came: api.c refuses '%' rather than decode it. */
static size_t no_unescape(void *cls, struct MHD_Connection *c, char *s)
{
	(void)cls;
	(void)c;
	return strlen(s);
}

static enum MHD_Result each_query(void *cls, enum MHD_ValueKind kind, const char *key,
				  const char *value)
{
	struct api_request *rq = cls;
	(void)kind;
	if (rq->nquery < API_QUERY_MAX)
		rq->query[rq->nquery] = (struct api_arg){ key, value };
	if (rq->nquery <= API_QUERY_MAX)
		rq->nquery++;
	return MHD_YES;
}

/* Content-Length given more than once, or beside Transfer-Encoding: the
 * framing two parsers may read two ways (request smuggling, RFC 9112
 * §6.3), refused rather than guessed at. */
static enum MHD_Result count_framing(void *cls, enum MHD_ValueKind kind, const char *key,
				     const char *value)
{
	int *n = cls;
	(void)kind;
	(void)value;
	if (!strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH))
		n[0]++;
	else if (!strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING))
		n[1]++;
	return MHD_YES;
}

static enum MHD_Result send_answer(struct MHD_Connection *con, struct api_response *rs)
{
	struct MHD_Response *r =
		MHD_create_response_from_buffer(rs->len, rs->body, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(rs->body);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, rs->content_type);
	/* what a person's records are must not stay in a cache or be sniffed */
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	/* the console's page and assets, and everything else: no script or
	 * style but the server's, no framing, no referrer to leak a path */
	MHD_add_response_header(r, "Content-Security-Policy", rs->csp ? rs->csp : CONSOLE_CSP);
	MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
	if (rs->set_cookie[0])
		MHD_add_response_header(r, MHD_HTTP_HEADER_SET_COOKIE, rs->set_cookie);
	if (rs->etag[0])
		MHD_add_response_header(r, MHD_HTTP_HEADER_ETAG, rs->etag);
	if (rs->status == 401)
		MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
					"Bearer realm=\"rollcall\"");
	if (rs->retry_after > 0) {
		char s[16];
		snprintf(s, sizeof s, "%d", rs->retry_after);
		MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, s);
	}
	enum MHD_Result ok = MHD_queue_response(con, (unsigned)rs->status, r);
	MHD_destroy_response(r);
	return ok;
}

/* A refusal before the body is read, in the API's form: 413 for a body
 * announced longer than max, else 400 for its framing. */
static enum MHD_Result refuse_early(struct MHD_Connection *con, int status, size_t max)
{
	char msg[200];
	struct api_response rs = { .status = status, .content_type = "application/json" };
	if (status == 413)
		snprintf(msg, sizeof msg,
			 "{\"error\":\"the body is longer than the %zu bytes any request may "
			 "carry\",\"field\":null}",
			 max);
	else
		snprintf(msg, sizeof msg,
			 "{\"error\":\"Content-Length given twice, or with "
			 "Transfer-Encoding\",\"field\":\"Content-Length\"}");
	rs.body = xstrdup(msg);
	rs.len = strlen(msg);
	return send_answer(con, &rs);
}

static void peer_address(struct MHD_Connection *con, char *out, size_t size)
{
	const union MHD_ConnectionInfo *info =
		MHD_get_connection_info(con, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	snprintf(out, size, "?");
	if (!info || !info->client_addr)
		return;
	const struct sockaddr *sa = info->client_addr;
	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out,
			  (socklen_t)size);
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, out,
			  (socklen_t)size);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *con, const char *url,
				  const char *method, const char *version, const char *upload_data,
				  size_t *upload_data_size, void **con_cls)
{
	struct server *srv = cls;
	struct serving *s = srv->s;
	struct pending *p = *con_cls;
	(void)version;
	if (!p) { /* the headers: the first call */
		p = xcalloc(1, sizeof *p);
		p->server = srv;
		atomic_fetch_add(&p->server->in_flight, 1);
		p->started_ms = monotonic_ms();
		*con_cls = p;
		int framing[2] = { 0, 0 };
		MHD_get_connection_values(con, MHD_HEADER_KIND, count_framing, framing);
		if (framing[0] > 1 || (framing[0] && framing[1]))
			return refuse_early(con, 400, 0);
		const char *length =
			MHD_lookup_connection_value(con, MHD_HEADER_KIND, "Content-Length");
		if (length && strtoull(length, NULL, 10) > s->body_max)
			return refuse_early(con, 413, s->body_max);
		return MHD_YES;
	}
	if (*upload_data_size) { /* a piece of the body */
		if (monotonic_ms() - p->started_ms > s->cfg->serve.request_s * 1000LL) {
			log_event(LOG_WARN, "request too slow: dropped", NULL);
			return MHD_NO;
		}
		if (!p->over && p->len + *upload_data_size <= s->body_max) {
			p->body = xrealloc(p->body, p->len + *upload_data_size + 1);
			memcpy(p->body + p->len, upload_data, *upload_data_size);
			p->len += *upload_data_size;
			p->body[p->len] = '\0';
		} else {
			p->over = 1; /* the rest is read and dropped: the answer is 413 */
			free(p->body);
			p->body = NULL;
			p->len = 0;
		}
		*upload_data_size = 0;
		return MHD_YES;
	}
	struct api_request *rq = &p->rq;
	peer_address(con, p->client, sizeof p->client);
	rq->method = method;
	rq->path = url;
	rq->client = p->client;
	rq->authorization =
		MHD_lookup_connection_value(con, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	rq->content_type =
		MHD_lookup_connection_value(con, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
	rq->if_match = MHD_lookup_connection_value(con, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_MATCH);
	rq->session = MHD_lookup_connection_value(con, MHD_COOKIE_KIND, CONSOLE_COOKIE);
	rq->origin = MHD_lookup_connection_value(con, MHD_HEADER_KIND, "Origin");
	rq->host = MHD_lookup_connection_value(con, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
	rq->accept = MHD_lookup_connection_value(con, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT);
	rq->tls = srv->cert != NULL;
	MHD_get_connection_values(con, MHD_GET_ARGUMENT_KIND, each_query, rq);
	rq->body = p->body;
	rq->body_len = p->len;
	rq->body_over = p->over;
	struct api_response rs;
	api_handle(s->api, rq, &rs);
	return send_answer(con, &rs);
}

static void on_completed(void *cls, struct MHD_Connection *con, void **con_cls,
			 enum MHD_RequestTerminationCode why)
{
	struct pending *p = *con_cls;
	(void)cls;
	(void)con;
	if (!p)
		return;
	if (why == MHD_REQUEST_TERMINATED_TIMEOUT_REACHED)
		log_event(LOG_INFO, "connection timed out", NULL);
	atomic_fetch_sub(&p->server->in_flight, 1);
	free(p->body);
	free(p);
	*con_cls = NULL;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	(void)cls;
	vsnprintf(msg, sizeof msg, fmt, ap);
	size_t n = strlen(msg);
	while (n && msg[n - 1] == '\n')
		msg[--n] = '\0';
	log_event(LOG_DEBUG, "libmicrohttpd", "said", msg, NULL);
}

/* Read a PEM file into *out; the key must be its owner's alone. */
static int read_pem(const char *path, int secret, char **out)
{
	char err[4608];
	size_t len;
	struct stat st;
	*out = file_read(path, TLS_FILE_MAX, &len, &st, err, sizeof err);
	if (!*out) {
		error("%s", err);
		return -1;
	}
	if (secret && (st.st_mode & 077)) {
		error("%s: the TLS key is readable by others (mode %03o): chmod 600 it", path,
		      (unsigned)(st.st_mode & 0777));
		free(*out);
		*out = NULL;
		return -1;
	}
	return 0;
}

static struct server *server_start(struct serving *s, int reuse)
{
	const struct config *cfg = s->cfg;
	struct server *srv = xcalloc(1, sizeof *srv);
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG | MHD_USE_ITC;
	if (cfg->serve.tls_cert) {
		if (read_pem(cfg->serve.tls_cert, 0, &srv->cert) < 0 ||
		    read_pem(cfg->serve.tls_key, 1, &srv->key) < 0)
			goto fail;
		flags |= MHD_USE_TLS;
	}
	srv->s = s;
	struct MHD_OptionItem tls[] = {
		{ MHD_OPTION_HTTPS_MEM_CERT, 0, srv->cert },
		{ MHD_OPTION_HTTPS_MEM_KEY, 0, srv->key },
		{ MHD_OPTION_END, 0, NULL },
	};
	srv->d = MHD_start_daemon(
		flags, 0, NULL, NULL, on_request, srv, MHD_OPTION_SOCK_ADDR,
		(struct sockaddr *)&s->addr, MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned)reuse,
		MHD_OPTION_THREAD_POOL_SIZE, (unsigned)cfg->serve.threads,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg->serve.max_connections,
		MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)cfg->serve.per_ip,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)cfg->serve.timeout_s,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONNECTION_MEMORY,
		MHD_OPTION_STRICT_FOR_CLIENT, 1, MHD_OPTION_UNESCAPE_CALLBACK, no_unescape, NULL,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL, MHD_OPTION_EXTERNAL_LOGGER,
		on_mhd_log, NULL, MHD_OPTION_ARRAY, srv->cert ? tls : tls + 2, MHD_OPTION_END);
	if (!srv->d) {
		error("serve: cannot listen on %s%s (in use? the TLS files valid?)",
		      cfg->serve.listen, srv->cert ? " with TLS" : "");
		goto fail;
	}
	return srv;
fail:
	free(srv->cert);
	free(srv->key);
	free(srv);
	return NULL;
}

/* Stop accepting, let the requests in flight finish, stop. */
static void server_retire(struct server *srv)
{
	/* closed at once: a connection the kernel would queue on it could
	 * never be answered */
	MHD_socket fd = MHD_quiesce_daemon(srv->d);
	if (fd != MHD_INVALID_SOCKET)
		close(fd);
	for (int waited = 0; atomic_load(&srv->in_flight) > 0 && waited < SERVE_DRAIN_S * 100;
	     waited++) {
		struct timespec ts = { 0, 10 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	MHD_stop_daemon(srv->d);
	if (srv->key)
		memset(srv->key, 0, strlen(srv->key));
	free(srv->cert);
	free(srv->key);
	free(srv);
}

int serve_run(const struct config *cfg, const char *db_path)
{
	struct serving s = { .cfg = cfg };
	char why[256];
	int loopback;
	if (serve_parse_listen(cfg->serve.listen, &s.addr, &s.addr_len, &loopback, why,
			       sizeof why) < 0) {
		error("%s: serve.listen \"%s\": %s", cfg->path ? cfg->path : "rollcall.conf",
		      cfg->serve.listen, why);
		return -1;
	}
	if (!loopback && !cfg->serve.tls_cert) {
		error("%s: serve.listen \"%s\" is not a loopback address: give tls_cert and "
		      "tls_key, so that tokens and pupils' records never cross a network in "
		      "clear",
		      cfg->path ? cfg->path : "rollcall.conf", cfg->serve.listen);
		return -1;
	}
	s.api = api_new(cfg, db_path);
	s.body_max = api_body_max(s.api);
	/* On the cores the evaluator shares, a request waits before a batch
	 * does: the pool's threads, started below, inherit the niceness. */
	if (cfg->serve.nice && setpriority(PRIO_PROCESS, 0, (int)cfg->serve.nice) != 0)
		log_event(LOG_WARN, "cannot lower the server's priority", "error", strerror(errno),
			  NULL);

	/* The signals are the main thread's: every thread started from here
	 * on (libmicrohttpd's) inherits them blocked. */
	sigset_t mask, old;
	sigemptyset(&mask);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	pthread_sigmask(SIG_BLOCK, &mask, &old);
	signal(SIGPIPE, SIG_IGN);

	struct server *srv = server_start(&s, 1);
	if (!srv) {
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		api_free(s.api);
		return -1;
	}
	/* port 0 asks for any: the one given is where a reload listens too */
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(srv->d, MHD_DAEMON_INFO_BIND_PORT);
	unsigned short port = info ? info->port : 0;
	if (s.addr.ss_family == AF_INET6)
		((struct sockaddr_in6 *)&s.addr)->sin6_port = htons(port);
	else
		((struct sockaddr_in *)&s.addr)->sin_port = htons(port);
	char where[160], host[64] = "";
	if (s.addr.ss_family == AF_INET6)
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&s.addr)->sin6_addr, host,
			  sizeof host);
	else
		inet_ntop(AF_INET, &((struct sockaddr_in *)&s.addr)->sin_addr, host, sizeof host);
	snprintf(where, sizeof where, s.addr.ss_family == AF_INET6 ? "[%s]:%u" : "%s:%u", host,
		 port);
	log_event(LOG_INFO, "serving", "listen", where, "tls", cfg->serve.tls_cert ? "on" : "off",
		  NULL);

	for (;;) {
		int sig;
		if (sigwait(&mask, &sig) != 0)
			continue;
		if (sig == SIGHUP) {
			struct server *next = server_start(&s, 1);
			if (!next) { /* the running one goes on as it was */
				log_event(LOG_WARN,
					  "reload failed: the TLS files kept as they were", NULL);
				continue;
			}
			server_retire(srv);
			srv = next;
			log_event(LOG_INFO, "reloaded", "tls", cfg->serve.tls_cert ? "on" : "off",
				  NULL);
			continue;
		}
		log_event(LOG_INFO, "stopping: finishing the requests in flight", NULL);
		server_retire(srv);
		break;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	api_free(s.api);
	log_event(LOG_INFO, "stopped", NULL);
	return 0;
}
