/*
 * config.c — reading rollcall.conf.
 *
 * The file runs as a data file (datafile.c): in a Lua state with no
 * libraries and no globals at all, so it can only assign data, under an
 * instruction and a memory budget, the line of every key noted so that an
 * unknown or ill-typed key is reported as FILE:LINE. Then the values are
 * checked, key by key.
 */
#include "config.h"

#include "datafile.h"
#include "date.h"
#include "file.h"
#include "sandbox.h"
#include "util.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <lauxlib.h>
#include <lualib.h>
#include <openssl/crypto.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#define CONFIG_FILE_MAX (1 << 20)

static const struct datafile_spec config_file = {
	.what = "the configuration",
	.names = "database, policies, scripts, endpoints, delivery, limits, signoff_days, "
		 "retention, serve",
	.instructions = 1000000,
	.memory = 16 << 20,
	.track_budget = 1L << 21,
};

struct delivery_key {
	const char *name;
	size_t offset;
	long def, min, max;
};

#define D(field) offsetof(struct config, delivery.field)
static const struct delivery_key delivery_keys[] = {
	{ "timeout_ms", D(timeout_ms), 10000, 100, 600000 },
	{ "concurrency", D(concurrency), 32, 1, 1024 },
	{ "per_endpoint", D(per_endpoint), 8, 1, 1024 },
	{ "max_attempts", D(max_attempts), 10, 1, 100 },
	{ "backoff_ms", D(backoff_ms), 5000, 1, 86400000 },
	{ "backoff_max_ms", D(backoff_max_ms), 3600000, 1, 604800000 },
};
#undef D

/* serve = { ... }: the API's numbers, each with its bounds (docs/CONFIG.md) */
#define S(field) offsetof(struct config, serve.field)
static const struct delivery_key serve_keys[] = {
	{ "threads", S(threads), 4, 1, 64 },
	{ "max_connections", S(max_connections), 256, 1, 10000 },
	{ "per_ip", S(per_ip), 32, 1, 10000 },
	{ "timeout_s", S(timeout_s), 15, 1, 3600 },
	{ "request_s", S(request_s), 30, 1, 3600 },
	{ "json_max_kb", S(json_max_kb), 64, 1, 1024 },
	{ "policy_max_kb", S(policy_max_kb), 1024, 1, 1024 }, /* publish.h: PUBLISH_TEXT_MAX */
	{ "auth_failures", S(auth_failures), 20, 1, 100000 },
	{ "nice", S(nice), 19, 0, 19 },
};
#undef S

static const char *const top_keys[] = { "database", "policies", "scripts",	"endpoints",
					"delivery", "limits",	"signoff_days", "retention",
					"serve",    NULL };

struct reader {
	struct config *c;
	lua_State *L;
	const char *path;
	int line;   /* of the key being read */
	int approx; /* 0: line is the key's; 1: the line its table starts on; 2: the
		       line its table was set on (the key's own line is not known) */
};

/* Where a table is: the line it starts on if known, else where it was set. */
struct place {
	int line, start;
};

/* The place of the table at the top of the stack, set at r's current line. */
static struct place table_place(struct reader *r)
{
	int start = datafile_table_line(r->L, -1);
	struct place p = { start ? start : r->line, start != 0 };
	if (!start && r->approx)
		p.start = r->approx == 1;
	return p;
}

/* Point r at the key at -2 (its value at -1) of the table at index t, whose
 * place is in: the line the value's table starts on, else the line the key
 * was set on, else (tracking gave up) the table's own line. */
static void at_key(struct reader *r, int t, struct place in)
{
	int line = datafile_key_line(r->L, t, -2, 0);
	r->line = line ? line : in.line;
	r->approx = line ? 0 : in.start ? 1 : 2;
}

static int fail(struct reader *r, const char *fmt, const char *a, const char *b)
{
	char msg[512];
	snprintf(msg, sizeof msg, fmt, a, b);
	if (r->approx)
		error("%s:%d: %s (in the table %s on line %d)", r->path, r->line, msg,
		      r->approx == 1 ? "starting" : "set", r->line);
	else
		error("%s:%d: %s", r->path, r->line, msg);
	return -1;
}

/* A path relative to the config file's directory. */
static char *resolve(struct reader *r, const char *p)
{
	const char *slash = strrchr(r->path, '/');
	if (p[0] == '/' || !slash)
		return xstrdup(p);
	size_t n = (size_t)(slash - r->path) + 1 + strlen(p) + 1;
	char *out = xmalloc(n);
	snprintf(out, n, "%.*s/%s", (int)(slash - r->path), r->path, p);
	return out;
}

static int read_string(struct reader *r, const char *key, char **out)
{
	if (lua_type(r->L, -1) != LUA_TSTRING || !*lua_tostring(r->L, -1))
		return fail(r, "%s must be a non-empty string", key, NULL);
	free(*out);
	*out = xstrdup(lua_tostring(r->L, -1));
	return 0;
}

static int read_integer(struct reader *r, const char *where, const char *key, long min, long max,
			long *out)
{
	lua_State *L = r->L;
	if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < min || lua_tointeger(L, -1) > max) {
		char range[80];
		snprintf(range, sizeof range, "%s must be a whole number from %ld to %ld", key, min,
			 max);
		return fail(r, "%s.%s", where, range);
	}
	*out = (long)lua_tointeger(L, -1);
	return 0;
}

static int read_delivery(struct reader *r)
{
	lua_State *L = r->L;
	if (!lua_istable(L, -1))
		return fail(r, "delivery must be a table", NULL, NULL);
	struct place table = table_place(r);
	lua_pushnil(L);
	while (lua_next(L, -2)) {
		const char *key = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "?";
		const struct delivery_key *k = NULL;
		at_key(r, -3, table);
		for (size_t i = 0; i < sizeof delivery_keys / sizeof *delivery_keys; i++)
			if (!strcmp(key, delivery_keys[i].name))
				k = &delivery_keys[i];
		if (!k)
			return fail(r, "delivery: unknown key '%s'", key, NULL);
		if (read_integer(r, "delivery", key, k->min, k->max,
				 (long *)((char *)r->c + k->offset)) < 0)
			return -1;
		lua_pop(L, 1);
	}
	return 0;
}

static int read_limits(struct reader *r)
{
	lua_State *L = r->L;
	if (!lua_istable(L, -1))
		return fail(r, "limits must be a table", NULL, NULL);
	struct place table = table_place(r);
	lua_pushnil(L);
	while (lua_next(L, -2)) {
		const char *key = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "?";
		long v;
		at_key(r, -3, table);
		if (!strcmp(key, "policy_memory_mb")) {
			if (read_integer(r, "limits", key, 1, 4096, &v) < 0)
				return -1;
			r->c->policy_memory = (size_t)v << 20;
		} else if (!strcmp(key, "policy_instructions")) {
			if (read_integer(r, "limits", key, 1000, 1000000000L, &v) < 0)
				return -1;
			r->c->policy_instructions = v;
		} else if (!strcmp(key, "batch_rows")) {
			if (read_integer(r, "limits", key, 1, 1000000, &r->c->batch_rows) < 0)
				return -1;
		} else if (!strcmp(key, "batch_pupils")) {
			if (read_integer(r, "limits", key, 1, 1000000, &r->c->batch_pupils) < 0)
				return -1;
		} else {
			return fail(r, "limits: unknown key '%s'", key, NULL);
		}
		lua_pop(L, 1);
	}
	return 0;
}

/* retention = { marks_years = 6, actions_years = 6, payloads_days = 90 }:
 * how long personal data is kept (retention.c). Marks for fewer than 6
 * years would break the law that makes schools keep registers, whatever
 * the council wants: a config error naming it. */
static int read_retention(struct reader *r)
{
	lua_State *L = r->L;
	if (!lua_istable(L, -1))
		return fail(r, "retention must be a table", NULL, NULL);
	struct place table = table_place(r);
	lua_pushnil(L);
	while (lua_next(L, -2)) {
		const char *key = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "?";
		at_key(r, -3, table);
		if (!strcmp(key, "marks_years")) {
			if (lua_isinteger(L, -1) && lua_tointeger(L, -1) >= 0 &&
			    lua_tointeger(L, -1) < RETENTION_MARKS_YEARS_MIN)
				return fail(r,
					    "retention.marks_years must be at least 6: every entry "
					    "in an attendance register is kept for 6 years (School "
					    "Attendance (Pupil Registration) (England) Regulations "
					    "2024, reg 7)%s%s",
					    "", "");
			if (read_integer(r, "retention", key, RETENTION_MARKS_YEARS_MIN, 100,
					 &r->c->retention.marks_years) < 0)
				return -1;
		} else if (!strcmp(key, "actions_years")) {
			if (lua_isinteger(L, -1) && lua_tointeger(L, -1) >= 0 &&
			    lua_tointeger(L, -1) < RETENTION_ACTIONS_YEARS_MIN)
				return fail(
					r,
					"retention.actions_years must be at least 3: the national "
					"framework allows 2 penalty notices in 3 years, counted "
					"from the approved steps kept%s%s",
					"", "");
			if (read_integer(r, "retention", key, RETENTION_ACTIONS_YEARS_MIN, 100,
					 &r->c->retention.actions_years) < 0)
				return -1;
		} else if (!strcmp(key, "payloads_days")) {
			if (read_integer(r, "retention", key, 1, 36500,
					 &r->c->retention.payloads_days) < 0)
				return -1;
		} else {
			return fail(r,
				    "retention: unknown key '%s' (keys: marks_years, "
				    "actions_years, payloads_days)",
				    key, NULL);
		}
		lua_pop(L, 1);
	}
	return 0;
}

/* serve = { listen = "...", tls_cert = "...", tls_key = "...", threads = N,
 * ... }: paths relative to the file, numbers within serve_keys' bounds. */
static int read_serve(struct reader *r)
{
	lua_State *L = r->L;
	if (!lua_istable(L, -1))
		return fail(r, "serve must be a table", NULL, NULL);
	struct place table = table_place(r);
	lua_pushnil(L);
	while (lua_next(L, -2)) {
		const char *key = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "?";
		const struct delivery_key *k = NULL;
		at_key(r, -3, table);
		char **text = !strcmp(key, "listen")	 ? &r->c->serve.listen
			      : !strcmp(key, "tls_cert") ? &r->c->serve.tls_cert
			      : !strcmp(key, "tls_key")	 ? &r->c->serve.tls_key
			      : !strcmp(key, "url")	 ? &r->c->serve.url
							 : NULL;
		if (text) {
			if (read_string(r, key, text) < 0)
				return -1;
			if (!strcmp(key, "url") && strncmp(*text, "https://", 8) != 0 &&
			    strncmp(*text, "http://", 7) != 0)
				return fail(r, "serve.url must begin https:// (or http://)", NULL,
					    NULL);
			if (strcmp(key, "listen") != 0 && strcmp(key, "url") != 0) {
				char *p = resolve(r, *text);
				free(*text);
				*text = p;
			}
			lua_pop(L, 1);
			continue;
		}
		for (size_t i = 0; i < sizeof serve_keys / sizeof *serve_keys; i++)
			if (!strcmp(key, serve_keys[i].name))
				k = &serve_keys[i];
		if (!k)
			return fail(
				r,
				"serve: unknown key '%s' (keys: listen, url, tls_cert, tls_key, "
				"threads, max_connections, per_ip, timeout_s, request_s, "
				"json_max_kb, policy_max_kb, auth_failures, nice)",
				key, NULL);
		if (read_integer(r, "serve", key, k->min, k->max,
				 (long *)((char *)r->c + k->offset)) < 0)
			return -1;
		lua_pop(L, 1);
	}
	if (!r->c->serve.tls_cert != !r->c->serve.tls_key)
		return fail(r, "serve: tls_cert and tls_key go together: give both or neither",
			    NULL, NULL);
	return 0;
}

/* Is host (as curl's URL parser gives it: IPv4 normalised to dotted quad,
 * IPv6 in brackets without a zone id) a loopback address? 127.0.0.0/8, ::1,
 * or the name localhost (curl 7.78 and later resolve it to loopback without
 * asking DNS). Anything else, such as "127.0.0.1.example.org", is a name
 * that DNS may send anywhere. */
static int loopback(const char *host)
{
	static const unsigned char ipv6_loopback[16] = { [15] = 1 };
	unsigned char addr[16];
	char inner[64];
	size_t len = strlen(host);
	if (!strcasecmp(host, "localhost"))
		return 1;
	if (inet_pton(AF_INET, host, addr) == 1)
		return addr[0] == 127;
	if (len < 2 || len - 2 >= sizeof inner || host[0] != '[' || host[len - 1] != ']')
		return 0;
	memcpy(inner, host + 1, len - 2);
	inner[len - 2] = '\0';
	return inet_pton(AF_INET6, inner, addr) == 1 && !memcmp(addr, ipv6_loopback, 16);
}

/* https anywhere; plain http only to loopback unless the endpoint says
 * insecure = true (attendance data is personal data). r is at the url. */
static int check_url(struct reader *r, const struct endpoint_conf *e)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL;
	int rc = -1;
	if (curl_url_set(u, CURLUPART_URL, e->url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK)
		fail(r, "endpoints[\"%s\"].url \"%s\" is not a URL", e->name, e->url);
	else if (strcmp(scheme, "https") != 0 && strcmp(scheme, "http") != 0)
		fail(r, "endpoints[\"%s\"].url: only https:// (or http:// to loopback) is allowed",
		     e->name, NULL);
	else if (!strcmp(scheme, "http") && !loopback(host) && !e->insecure)
		fail(r,
		     "endpoints[\"%s\"].url: plain http:// is allowed only to loopback "
		     "(127.0.0.0/8, ::1, localhost) unless insecure = true; the host is %s",
		     e->name, host);
	else
		rc = 0;
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(u);
	return rc;
}

int config_parse_time(const char *s, long long *ms)
{
	size_t n = strlen(s);
	int day = n >= 10 ? date_parse(s, 10) : -1, h = 0, m = 0, sec = 0;
	if (day < 0 || (n != 10 && n != 20))
		return -1;
	if (n == 20) {
		char t, z;
		for (size_t i = 11; i < 19; i++)
			if ((i == 13 || i == 16) != (s[i] == ':') ||
			    (i != 13 && i != 16 && (s[i] < '0' || s[i] > '9')))
				return -1;
		if (sscanf(s + 10, "%c%2d:%2d:%2d%c", &t, &h, &m, &sec, &z) != 5 || t != 'T' ||
		    z != 'Z' || h > 23 || m > 59 || sec > 59)
			return -1;
	}
	*ms = (((long long)day * 24 + h) * 60 + m) * 60000LL + sec * 1000LL;
	return 0;
}

/* secrets = { { file = "..." | env = "...", expires = "..." }, ... }: r at
 * the list. */
static int read_secrets(struct reader *r, struct endpoint_conf *e)
{
	lua_State *L = r->L;
	const char *name = e->name;
	if (!lua_istable(L, -1))
		return fail(r,
			    "endpoints[\"%s\"].secrets must be a list of { file = ... } or "
			    "{ env = ... }",
			    name, NULL);
	struct place list = table_place(r);
	lua_pushnil(L);
	while (lua_next(L, -2)) {
		at_key(r, -3, list);
		if (!lua_isinteger(L, -2) || lua_tointeger(L, -2) != e->nsecrets + 1)
			return fail(r, "endpoints[\"%s\"].secrets must be a list (1, 2, ...)", name,
				    NULL);
		if (e->nsecrets == ENDPOINT_SECRETS_MAX)
			return fail(r, "endpoints[\"%s\"].secrets: at most %s secrets", name, "4");
		if (!lua_istable(L, -1))
			return fail(
				r,
				"endpoints[\"%s\"].secrets: each must be { file = ... } or { env "
				"= ... }, with expires = \"YYYY-MM-DDTHH:MM:SSZ\" if it ends",
				name, NULL);
		struct endpoint_secret *s = &e->secrets[e->nsecrets++];
		struct place item = table_place(r);
		lua_pushnil(L);
		while (lua_next(L, -2)) {
			const char *key =
				lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "?";
			at_key(r, -3, item);
			if (lua_type(L, -1) != LUA_TSTRING || !*lua_tostring(L, -1))
				return fail(r,
					    "endpoints[\"%s\"].secrets: %s must be a non-empty "
					    "string",
					    name, key);
			const char *v = lua_tostring(L, -1);
			if (!strcmp(key, "file") && !s->file) {
				s->file = resolve(r, v);
			} else if (!strcmp(key, "env") && !s->env) {
				s->env = xstrdup(v);
			} else if (!strcmp(key, "expires")) {
				if (config_parse_time(v, &s->expires_ms) < 0)
					return fail(
						r,
						"endpoints[\"%s\"].secrets: expires \"%s\" is not "
						"YYYY-MM-DDTHH:MM:SSZ (UTC) or YYYY-MM-DD",
						name, v);
			} else {
				return fail(r,
					    "endpoints[\"%s\"].secrets: unknown key '%s' (keys: "
					    "file, env, expires)",
					    name, key);
			}
			lua_pop(L, 1);
		}
		if (!s->file == !s->env) {
			r->line = item.line;
			return fail(r, "endpoints[\"%s\"].secrets: each needs one of file or env",
				    name, NULL);
		}
		lua_pop(L, 1);
	}
	if (!e->nsecrets)
		return fail(r, "endpoints[\"%s\"].secrets is empty", name, NULL);
	return 0;
}

/* rate_per_second = N, disable_after_hours = H: r at the value. */
static int read_endpoint_number(struct reader *r, struct endpoint_conf *e, const char *key)
{
	lua_State *L = r->L;
	if (!strcmp(key, "rate_per_second")) {
		if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1 ||
		    lua_tointeger(L, -1) > ENDPOINT_RATE_MAX)
			return fail(r,
				    "endpoints[\"%s\"].rate_per_second must be a whole number "
				    "from 1 to %s",
				    e->name, "100000");
		e->rate_per_second = (long)lua_tointeger(L, -1);
		return 0;
	}
	double h = lua_tonumber(L, -1);
	if (lua_type(L, -1) != LUA_TNUMBER || !(h >= ENDPOINT_DISABLE_HOURS_MIN) ||
	    h > ENDPOINT_DISABLE_HOURS_MAX)
		return fail(r,
			    "endpoints[\"%s\"].disable_after_hours must be a number of hours from "
			    "%s",
			    e->name, "0.001 to 8760");
	e->disable_after_hours = h;
	return 0;
}

#define ONE_SECRET_KEY                                                                             \
	"endpoints[\"%s\"] needs one of secret_env or secret_file, or secrets = { ... }"

static int read_endpoints(struct reader *r)
{
	static const char *const keys[] = {
		"url",	   "secret_env",      "secret_file",	     "insecure",
		"secrets", "rate_per_second", "disable_after_hours", NULL
	};
	lua_State *L = r->L;
	struct config *c = r->c;
	if (!lua_istable(L, -1))
		return fail(r,
			    "endpoints must be a table of name = { url = ..., secret_env = ... }",
			    NULL, NULL);
	struct place table = table_place(r);
	lua_pushnil(L);
	while (lua_next(L, -2)) {
		at_key(r, -3, table);
		if (lua_type(L, -2) != LUA_TSTRING)
			return fail(r, "endpoints: names must be strings", NULL, NULL);
		const char *name = lua_tostring(L, -2);
		if (!lua_istable(L, -1))
			return fail(r, "endpoints[\"%s\"] must be a table", name, NULL);
		c->endpoints =
			xrealloc(c->endpoints, (size_t)(c->nendpoints + 1) * sizeof *c->endpoints);
		struct endpoint_conf *e = &c->endpoints[c->nendpoints++];
		memset(e, 0, sizeof *e);
		e->name = xstrdup(name);
		e->line = r->line;
		e->disable_after_hours = ENDPOINT_DISABLE_HOURS_DEFAULT;
		int approx = r->approx, url_line = r->line, url_approx = r->approx;
		int single = 0, listed = 0; /* secret_env/secret_file; secrets */
		struct place endpoint = table_place(r);
		lua_pushnil(L);
		while (lua_next(L, -2)) {
			const char *key =
				lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "?";
			int k = 0;
			at_key(r, -3, endpoint);
			while (keys[k] && strcmp(keys[k], key))
				k++;
			if (!keys[k])
				return fail(r, "endpoints[\"%s\"]: unknown key '%s'", name, key);
			if (k == 3) {
				if (!lua_isboolean(L, -1))
					return fail(
						r,
						"endpoints[\"%s\"].insecure must be true or false",
						name, NULL);
				e->insecure = lua_toboolean(L, -1);
			} else if (k == 4) {
				if (single || listed)
					return fail(r, ONE_SECRET_KEY, name, NULL);
				if (read_secrets(r, e) < 0)
					return -1;
				listed = 1;
			} else if (k >= 5) {
				if (read_endpoint_number(r, e, key) < 0)
					return -1;
			} else {
				if (lua_type(L, -1) != LUA_TSTRING || !*lua_tostring(L, -1))
					return fail(
						r,
						"endpoints[\"%s\"].%s must be a non-empty string",
						name, key);
				const char *v = lua_tostring(L, -1);
				if (k == 0) {
					free(e->url);
					e->url = xstrdup(v);
					url_line = r->line;
					url_approx = r->approx;
				} else {
					if (single++ || listed)
						return fail(r, ONE_SECRET_KEY, name, NULL);
					e->secrets[0].env = k == 1 ? xstrdup(v) : NULL;
					e->secrets[0].file = k == 2 ? resolve(r, v) : NULL;
					e->nsecrets = 1;
				}
			}
			lua_pop(L, 1);
		}
		r->line = e->line; /* what follows is about the endpoint as a whole */
		r->approx = approx;
		if (!e->url)
			return fail(r, "endpoints[\"%s\"] has no url", name, NULL);
		if (!single && !listed)
			return fail(r, ONE_SECRET_KEY, name, NULL);
		r->line = url_line;
		r->approx = url_approx;
		if (check_url(r, e) < 0)
			return -1;
		lua_pop(L, 1);
	}
	return 0;
}

static void defaults(struct config *c)
{
	memset(c, 0, sizeof *c);
	c->database = xstrdup("rollcall.db");
	c->policies = xstrdup("policies");
	c->scripts = xstrdup("scripts");
	for (size_t i = 0; i < sizeof delivery_keys / sizeof *delivery_keys; i++)
		*(long *)((char *)c + delivery_keys[i].offset) = delivery_keys[i].def;
	c->policy_memory = SANDBOX_MEMORY_DEFAULT;
	c->policy_instructions = SANDBOX_INSTRUCTIONS_DEFAULT;
	c->batch_rows = 100000;
	c->batch_pupils = 50000;
	c->signoff_days = SIGNOFF_DAYS_DEFAULT;
	c->retention.marks_years = RETENTION_MARKS_YEARS_MIN;
	c->retention.actions_years = 6;
	c->retention.payloads_days = 90;
	for (size_t i = 0; i < sizeof serve_keys / sizeof *serve_keys; i++)
		*(long *)((char *)c + serve_keys[i].offset) = serve_keys[i].def;
	c->serve.listen = xstrdup("127.0.0.1:8443");
}

int config_load(struct config *c, const char *path, int optional)
{
	struct stat st;
	char err[4608];
	size_t len;
	defaults(c);
	if (!path || (optional && stat(path, &st) != 0 && errno == ENOENT))
		return 0;
	char *text = file_read(path, CONFIG_FILE_MAX, &len, NULL, err, sizeof err);
	if (!text) {
		error("%s", err);
		config_free(c);
		return -1;
	}
	c->path = xstrdup(path);

	lua_State *L = datafile_open(&config_file);
	if (!L) {
		error("%s: out of memory", path);
		free(text);
		config_free(c);
		return -1;
	}
	struct reader r = { .c = c, .L = L, .path = path };
	int rc = -1;
	if (datafile_run(L, path, text, len, err, sizeof err) < 0) {
		error("%s", err);
		goto out;
	}
	int values = lua_gettop(L);
	struct place top_level = { 1, 0 };
	lua_pushnil(L);
	while (lua_next(L, values)) {
		const char *key = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "?";
		at_key(&r, values, top_level);
		int k = 0;
		while (top_keys[k] && strcmp(top_keys[k], key))
			k++;
		int bad;
		switch (k) {
		case 0: bad = read_string(&r, key, &c->database); break;
		case 1: bad = read_string(&r, key, &c->policies); break;
		case 2: bad = read_string(&r, key, &c->scripts); break;
		case 3: bad = read_endpoints(&r); break;
		case 4: bad = read_delivery(&r); break;
		case 5: bad = read_limits(&r); break;
		/* school days (weekdays) a proposed legal step waits for a
		 * person's decision before it expires (actions.c) */
		case 6:
			bad = !lua_isinteger(L, -1) || lua_tointeger(L, -1) < SIGNOFF_DAYS_MIN ||
			      lua_tointeger(L, -1) > SIGNOFF_DAYS_MAX;
			if (bad)
				fail(&r,
				     "signoff_days must be a whole number of school days from %s",
				     "1 to 200", NULL);
			else
				c->signoff_days = (long)lua_tointeger(L, -1);
			break;
		case 7: bad = read_retention(&r); break;
		case 8: bad = read_serve(&r); break;
		default:
			bad = fail(
				&r,
				"unknown key '%s' (keys: database, policies, scripts, endpoints, "
				"delivery, limits, signoff_days, retention, serve)",
				key, NULL);
		}
		if (bad)
			goto out;
		if (k <= 2) { /* paths are relative to the file */
			char **field = k == 0 ? &c->database : k == 1 ? &c->policies : &c->scripts;
			char *p = resolve(&r, *field);
			free(*field);
			*field = p;
		}
		lua_pop(L, 1);
	}
	rc = 0;
out:
	datafile_close(L);
	free(text);
	if (rc < 0)
		config_free(c);
	return rc;
}

void config_free(struct config *c)
{
	for (int i = 0; i < c->nendpoints; i++) {
		for (int k = 0; k < ENDPOINT_SECRETS_MAX; k++) {
			struct endpoint_secret *s = &c->endpoints[i].secrets[k];
			/* OPENSSL_cleanse, not memset: a store before free may be dropped */
			OPENSSL_cleanse(&s->key, sizeof s->key);
			free(s->env);
			free(s->file);
		}
		free(c->endpoints[i].name);
		free(c->endpoints[i].url);
	}
	free(c->endpoints);
	free(c->database);
	free(c->policies);
	free(c->scripts);
	free(c->path);
	free(c->serve.listen);
	free(c->serve.url);
	free(c->serve.tls_cert);
	free(c->serve.tls_key);
	memset(c, 0, sizeof *c);
}

static char *copy_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

void config_copy(struct config *to, const struct config *from)
{
	*to = *from;
	to->path = copy_or_null(from->path);
	to->database = copy_or_null(from->database);
	to->policies = copy_or_null(from->policies);
	to->scripts = copy_or_null(from->scripts);
	to->serve.listen = copy_or_null(from->serve.listen);
	to->serve.url = copy_or_null(from->serve.url);
	to->serve.tls_cert = copy_or_null(from->serve.tls_cert);
	to->serve.tls_key = copy_or_null(from->serve.tls_key);
	to->endpoints = NULL;
	if (from->nendpoints)
		to->endpoints = xcalloc((size_t)from->nendpoints, sizeof *to->endpoints);
	for (int i = 0; i < from->nendpoints; i++) {
		struct endpoint_conf *e = &to->endpoints[i];
		*e = from->endpoints[i];
		e->name = copy_or_null(e->name);
		e->url = copy_or_null(e->url);
		for (int k = 0; k < ENDPOINT_SECRETS_MAX; k++) {
			e->secrets[k].env = copy_or_null(e->secrets[k].env);
			e->secrets[k].file = copy_or_null(e->secrets[k].file);
		}
	}
}

void config_swap_endpoints(struct config *a, struct config *b)
{
	struct endpoint_conf *endpoints = a->endpoints;
	int n = a->nendpoints;
	a->endpoints = b->endpoints;
	a->nendpoints = b->nendpoints;
	b->endpoints = endpoints;
	b->nendpoints = n;
}

/* A secret file holds one secret: its first line, after which only line
 * breaks may follow (a final newline is fine). Anything else — a second
 * secret pasted below the first, an old one left in — is refused rather
 * than half used. */
static int one_line(const char *text, size_t len)
{
	size_t n = strcspn(text, "\r\n");
	for (size_t i = n; i < len; i++)
		if (text[i] != '\r' && text[i] != '\n')
			return 0;
	return 1;
}

int config_read_secret(struct endpoint_secret *s, char *why, size_t why_size)
{
	char reason[160], err[512];
	char *text = NULL;
	const char *secret;
	size_t len = 0;
	if (s->env) {
		secret = getenv(s->env);
		if (!secret || !*secret) {
			snprintf(why, why_size, "the secret variable %s is not set", s->env);
			return -1;
		}
	} else {
		/* the mode of the very file read (file_read's fstat) */
		struct stat st;
		if (!(text = file_read(s->file, 4096, &len, &st, err, sizeof err))) {
			snprintf(why, why_size, "%s", err);
			return -1;
		}
		const char *bad =
			st.st_mode & 077 ? "is readable by group or others (chmod 600 it)"
			: !one_line(text, len)
				? "holds more than one line: it must hold exactly one secret"
				: NULL;
		if (bad) {
			OPENSSL_cleanse(text, len);
			free(text);
			snprintf(why, why_size, "secret file %s %s", s->file, bad);
			return -1;
		}
		text[strcspn(text, "\r\n")] = '\0';
		secret = text;
	}
	int rc = sign_key_parse(secret, &s->key, reason, sizeof reason);
	if (text) {
		OPENSSL_cleanse(text, len); /* all of it, past the line too */
		free(text);
	}
	if (rc < 0) {
		snprintf(why, why_size, "the secret in %s is %s", s->env ? s->env : s->file,
			 reason);
		return -1;
	}
	s->loaded = 1;
	return 0;
}

int config_load_secrets(struct config *c)
{
	long long now = wall_ms();
	for (int i = 0; i < c->nendpoints; i++) {
		struct endpoint_conf *e = &c->endpoints[i];
		int usable = 0;
		for (int k = 0; k < e->nsecrets; k++) {
			struct endpoint_secret *s = &e->secrets[k];
			char why[700];
			if (s->expires_ms && s->expires_ms <= now)
				continue; /* expired: signs nothing, its file may be gone */
			if (config_read_secret(s, why, sizeof why) < 0) {
				error("%s:%d: endpoints[\"%s\"]: %s", c->path, e->line, e->name,
				      why);
				return -1;
			}
			usable++;
		}
		if (!usable) {
			error("%s:%d: endpoints[\"%s\"]: every one of its secrets has expired: add "
			      "the new one (rollcall endpoint rotate)",
			      c->path, e->line, e->name);
			return -1;
		}
	}
	return 0;
}

int config_signing_keys(const struct endpoint_conf *e, long long now,
			const struct sign_key *keys[ENDPOINT_SECRETS_MAX], long long *until)
{
	int n = 0;
	if (until)
		*until = 0;
	for (int k = 0; k < e->nsecrets; k++) {
		const struct endpoint_secret *s = &e->secrets[k];
		if (!s->loaded || (s->expires_ms && s->expires_ms <= now))
			continue;
		keys[n++] = &s->key;
		if (until && s->expires_ms && (!*until || s->expires_ms < *until))
			*until = s->expires_ms;
	}
	return n;
}

const struct endpoint_conf *config_endpoint(const struct config *c, const char *name)
{
	for (int i = 0; i < c->nendpoints; i++)
		if (!strcmp(c->endpoints[i].name, name))
			return &c->endpoints[i];
	return NULL;
}
