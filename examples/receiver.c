/*
 * receiver.c — a webhook receiver on 127.0.0.1 for trying rollcall out and
 * for its end-to-end tests. It checks every Standard Webhooks signature with
 * its own code (OpenSSL HMAC and base64 here, not rollcall's sign.c), as a
 * receiver to copy should: the signatures compared in constant time
 * (CRYPTO_memcmp), any one of the request's signatures matching any of its
 * secrets accepted (so it goes on accepting through a rotation), and a
 * webhook-timestamp more than 5 minutes from its clock refused, so that a
 * request recorded once cannot be replayed later. It prints one line per
 * request:
 *
 *   id=msg_... n=1 sig=valid status=200 type=attendance.alert action_id=3 org=la:355
 *   kind=low_attendance upn=... ms=<arrival, Unix milliseconds>
 *
 *   receiver [--port N] (--secret whsec_... | --secret-env VAR)...
 *            [--fail-first N] [--status CODE] [--retry-after SECONDS]
 *            [--hang-first N] [--hang-ms MS] [--big-body MB] [--save DIR]
 *
 * sig= is valid, INVALID (401: no signature matches) or STALE (401: the
 * timestamp is outside the tolerance).
 * --save DIR writes each request's webhook headers and body, exactly as
 * received, to DIR/N.json (N counting from 1) as {"webhook-id",
 * "webhook-timestamp", "webhook-signature", "body", "status"}, for a
 * verifier in another language to check (tests/node/verify.js).
 * --fail-first N answers --status (default 500) to the first N requests of
 * each webhook-id, then 200; without --fail-first, --status answers every
 * request. --hang-first N holds the first N requests of each id for
 * --hang-ms before answering. --big-body MB answers 200 with MB megabytes
 * (-1: a body that never ends).
 * The first line printed is "listening on 127.0.0.1:PORT" (port 0 picks one).
 */
#include <arpa/inet.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BODY_MAX    (1 << 20)
#define IDS_MAX	    (1 << 19) /* webhook-ids remembered (half of it) */
#define KEYS_MAX    8
#define TOLERANCE_S 300 /* Standard Webhooks' default: 5 minutes either way */

static struct {
	unsigned char bytes[256];
	int len;
} keys[KEYS_MAX];
static int nkeys;
static const char *save_dir;
static long saved;
static int fail_first, status_code = 500, status_given, retry_after, hang_first, hang_ms;
static long big_body;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
	char id[64];
	int n;
} seen[IDS_MAX];
static int nseen;

struct request {
	char *body;
	size_t len;
	int too_big;
};

/* How many times this webhook-id has arrived, this one included: an
 * open-addressing table, so a long run stays fast. */
static int count(const char *id)
{
	uint32_t h = 2166136261u; /* FNV-1a */
	for (const char *p = id; *p; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	pthread_mutex_lock(&lock);
	int n = 0;
	for (uint32_t i = h & (IDS_MAX - 1), probes = 0; probes < IDS_MAX;
	     i = (i + 1) & (IDS_MAX - 1), probes++) {
		if (!seen[i].n) {
			if (nseen + 1 >= IDS_MAX / 2) /* full enough: stop counting */
				break;
			snprintf(seen[i].id, sizeof seen[i].id, "%s", id);
			nseen++;
		} else if (strcmp(seen[i].id, id)) {
			continue;
		}
		n = ++seen[i].n;
		break;
	}
	pthread_mutex_unlock(&lock);
	return n;
}

static int decode_key(const char *secret)
{
	if (!strncmp(secret, "whsec_", 6))
		secret += 6;
	size_t n = strlen(secret);
	if (nkeys == KEYS_MAX || n < 2 || n % 4 || n / 4 * 3 > sizeof keys[0].bytes)
		return -1;
	int len = EVP_DecodeBlock(keys[nkeys].bytes, (const unsigned char *)secret, (int)n);
	if (len < 0)
		return -1;
	keys[nkeys++].len = len - (secret[n - 1] == '=') - (secret[n - 2] == '=');
	return 0;
}

/* Is ts (Unix seconds, digits only) within TOLERANCE_S of now? */
static int timestamp_fresh(const char *ts)
{
	char *end;
	long long t = strtoll(ts, &end, 10);
	long long now = (long long)time(NULL);
	return *ts && !*end && t > now - TOLERANCE_S && t < now + TOLERANCE_S;
}

/* Does any "v1,<sig>" in header match HMAC(key, id.ts.body) for any of the
 * keys? Every signature is compared with every key's, each comparison in
 * constant time: how long it takes says nothing of how much matched. */
static int signature_valid(const char *id, const char *ts, const struct request *r,
			   const char *header)
{
	size_t prefix = strlen(id) + strlen(ts) + 2;
	unsigned char *msg = malloc(prefix + r->len + 1);
	int valid = 0;
	sprintf((char *)msg, "%s.%s.", id, ts);
	memcpy(msg + prefix, r->body, r->len);
	for (int k = 0; k < nkeys; k++) {
		unsigned char mac[EVP_MAX_MD_SIZE];
		unsigned int mac_len = 0;
		char expect[128];
		HMAC(EVP_sha256(), keys[k].bytes, keys[k].len, msg, prefix + r->len, mac, &mac_len);
		strcpy(expect, "v1,");
		EVP_EncodeBlock((unsigned char *)expect + 3, mac, (int)mac_len);
		size_t want = strlen(expect);
		for (const char *p = header; p && *p;) {
			size_t n = strcspn(p, " ");
			if (n == want && !CRYPTO_memcmp(p, expect, n))
				valid = 1;
			p += n + (p[n] == ' ');
		}
	}
	free(msg);
	return valid;
}

/* --save: the request as received, for another verifier. */
static void save(const char *id, const char *ts, const char *sig, const struct request *r,
		 unsigned status)
{
	char path[4096];
	pthread_mutex_lock(&lock);
	long n = ++saved;
	pthread_mutex_unlock(&lock);
	snprintf(path, sizeof path, "%s/%ld.json", save_dir, n);
	json_t *o = json_object();
	json_object_set_new(o, "webhook-id", id ? json_string(id) : json_null());
	json_object_set_new(o, "webhook-timestamp", ts ? json_string(ts) : json_null());
	json_object_set_new(o, "webhook-signature", sig ? json_string(sig) : json_null());
	json_object_set_new(o, "body", r->body ? json_stringn(r->body, r->len) : json_null());
	json_object_set_new(o, "status", json_integer(status));
	if (json_dump_file(o, path, JSON_COMPACT) < 0)
		fprintf(stderr, "receiver: cannot write %s\n", path);
	json_decref(o);
}

static ssize_t big_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
	(void)cls;
	uint64_t total = (uint64_t)big_body << 20;
	if (big_body > 0 && pos >= total)
		return MHD_CONTENT_READER_END_OF_STREAM;
	size_t n = total - pos < max ? (size_t)(total - pos) : max;
	memset(buf, 'x', n);
	return (ssize_t)n;
}

static const char *field(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	return json_is_string(v) ? json_string_value(v) : "-";
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
			      const char *method, const char *version, const char *upload,
			      size_t *upload_size, void **state)
{
	(void)cls, (void)url, (void)version;
	struct request *r = *state;
	if (!r) {
		*state = calloc(1, sizeof *r);
		return MHD_YES;
	}
	if (*upload_size) {
		if (r->len + *upload_size > BODY_MAX)
			r->too_big = 1;
		else {
			r->body = realloc(r->body, r->len + *upload_size + 1);
			memcpy(r->body + r->len, upload, *upload_size);
			r->len += *upload_size;
			r->body[r->len] = '\0';
		}
		*upload_size = 0;
		return MHD_YES;
	}
	const char *id = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "webhook-id");
	const char *ts = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "webhook-timestamp");
	const char *sig = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "webhook-signature");
	int n = id ? count(id) : 0;
	int fresh = ts && timestamp_fresh(ts);
	int valid = id && ts && sig && r->body && !r->too_big && strcmp(method, "POST") == 0 &&
		    fresh && signature_valid(id, ts, r, sig);
	if (hang_first && n <= hang_first) {
		struct timespec pause_for = { hang_ms / 1000, (long)(hang_ms % 1000) * 1000000 };
		nanosleep(&pause_for, NULL);
	}

	unsigned status = !valid					  ? 401
			  : (fail_first ? n <= fail_first : status_given) ? (unsigned)status_code
									  : 200;
	json_t *body = r->body ? json_loads(r->body, 0, NULL) : NULL;
	json_t *data = json_object_get(body, "data");
	json_t *pupil = json_object_get(data, "pupil");
	json_t *action_id = json_object_get(data, "action_id");
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	printf("id=%s n=%d sig=%s status=%u type=%s action_id=%lld org=%s kind=%s upn=%s "
	       "ms=%lld\n",
	       id ? id : "-", n,
	       valid   ? "valid"
	       : fresh ? "INVALID"
		       : "STALE",
	       status, field(body, "type"),
	       json_is_integer(action_id) ? (long long)json_integer_value(action_id) : -1LL,
	       field(data, "org"),
	       strcmp(field(data, "kind"), "-") ? field(data, "kind") : field(data, "step"),
	       field(pupil, "upn"), (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000);
	fflush(stdout);
	json_decref(body);
	if (save_dir)
		save(id, ts, sig, r, status);

	struct MHD_Response *resp;
	if (status == 200 && big_body)
		resp = MHD_create_response_from_callback(big_body < 0 ? MHD_SIZE_UNKNOWN
								      : (uint64_t)big_body << 20,
							 65536, big_reader, NULL, NULL);
	else
		resp = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
	if (retry_after && (status == 429 || status == 503)) {
		char s[16];
		snprintf(s, sizeof s, "%d", retry_after);
		MHD_add_response_header(resp, "Retry-After", s);
	}
	enum MHD_Result ok = MHD_queue_response(c, status, resp);
	MHD_destroy_response(resp);
	return ok;
}

static void done(void *cls, struct MHD_Connection *c, void **state,
		 enum MHD_RequestTerminationCode t)
{
	(void)cls, (void)c, (void)t;
	struct request *r = *state;
	if (r) {
		free(r->body);
		free(r);
	}
	*state = NULL;
}

static volatile sig_atomic_t stop;
static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

int main(int argc, char **argv)
{
	int port = 0;
	int secrets = 0;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!v)
			goto usage;
		i++;
		if (!strcmp(a, "--port"))
			port = atoi(v);
		else if (!strcmp(a, "--secret") || !strcmp(a, "--secret-env")) {
			const char *secret = a[8] ? getenv(v) : v;
			if (!secret || decode_key(secret) < 0) {
				fprintf(stderr,
					"receiver: %s %s: not a whsec_ secret (at most %d)\n", a, v,
					KEYS_MAX);
				return 2;
			}
			secrets++;
		} else if (!strcmp(a, "--save"))
			save_dir = v;
		else if (!strcmp(a, "--fail-first"))
			fail_first = atoi(v);
		else if (!strcmp(a, "--status"))
			status_code = atoi(v), status_given = 1;
		else if (!strcmp(a, "--retry-after"))
			retry_after = atoi(v);
		else if (!strcmp(a, "--hang-first"))
			hang_first = atoi(v);
		else if (!strcmp(a, "--hang-ms"))
			hang_ms = atoi(v);
		else if (!strcmp(a, "--big-body"))
			big_body = atol(v);
		else
			goto usage;
	}
	if (!secrets) {
		fprintf(stderr, "receiver: --secret or --secret-env must give a whsec_ secret\n");
		return 2;
	}
	if (hang_ms && !hang_first)
		hang_first = 1 << 30;

	struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK); /* loopback only */
	struct MHD_Daemon *d = MHD_start_daemon(
		MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, (uint16_t)port,
		NULL, NULL, handle, NULL, MHD_OPTION_SOCK_ADDR, &addr,
		MHD_OPTION_LISTENING_ADDRESS_REUSE, 1, MHD_OPTION_NOTIFY_COMPLETED, done, NULL,
		MHD_OPTION_CONNECTION_TIMEOUT, 30, MHD_OPTION_END);
	if (!d) {
		fprintf(stderr, "receiver: cannot listen on 127.0.0.1:%d\n", port);
		return 1;
	}
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	printf("listening on 127.0.0.1:%u\n", info ? info->port : (unsigned)port);
	fflush(stdout);
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	while (!stop)
		pause();
	MHD_stop_daemon(d);
	return 0;
usage:
	fprintf(stderr, "usage: receiver [--port N] (--secret whsec_... | --secret-env VAR)... "
			"[--fail-first N] [--status CODE] [--retry-after S] [--hang-first N] "
			"[--hang-ms MS] [--big-body MB] [--save DIR]\n");
	return 2;
}
