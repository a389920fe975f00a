/*
 * apitest.h — what the API's tests share (test_api.c, test_api_hostile.c):
 * a real `rollcall serve` on 127.0.0.1 over a real database (e2e.h), an
 * HTTP client (libcurl), a dump of the database to show a refused request
 * changed nothing, tokens made with `rollcall token add`, and the check
 * that docs/api.yaml, read with libyaml, documents every route of the
 * server's table and every status code the tests saw each route answer.
 * Include after testutil.h and e2e.h.
 */
#ifndef ROLLCALL_APITEST_H
#define ROLLCALL_APITEST_H

#include "api.h"
#include "token.h"

#include <curl/curl.h>
#include <jansson.h>
#include <yaml.h>

/* ---- rollcall serve ---- */

struct api_server {
	pid_t pid;
	int port;
	char log[PATH_MAX + 32];
};

/* Start `rollcall serve` in e->dir (rollcall.conf's serve.listen must be
 * 127.0.0.1:0) and wait for the port it says it serves on. */
static inline void api_start(struct e2e *e, struct api_server *s)
{
	char cmd[PATH_MAX * 4];
	static int started;
	snprintf(s->log, sizeof s->log, "%s/serve-%d.log", e->dir, ++started);
	snprintf(cmd, sizeof cmd, "cd '%s' && exec %s '%s' --config rollcall.conf serve 2>'%s'",
		 e->dir, e2e_wrap, e2e_bin, s->log);
	s->pid = fork();
	assert_true(s->pid >= 0);
	if (s->pid == 0) {
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 1000; i++) {
		char line[512];
		FILE *f = fopen(s->log, "r");
		while (f && fgets(line, sizeof line, f)) {
			const char *at = strstr(line, "msg=serving listen=127.0.0.1:");
			if (at && sscanf(at, "msg=serving listen=127.0.0.1:%d", &s->port) == 1) {
				fclose(f);
				return;
			}
		}
		if (f)
			fclose(f);
		if (waitpid(s->pid, NULL, WNOHANG) == s->pid)
			break;
		sleep_ms(10);
	}
	fail_msg("rollcall serve did not start; see %s", s->log);
}

/* SIGTERM, and its exit status (-1 if it had not stopped within ms). */
static inline int api_stop(struct api_server *s, int ms)
{
	int status;
	if (s->pid <= 0)
		return -1;
	kill(s->pid, SIGTERM);
	for (int waited = 0; waited <= ms; waited += 10) {
		if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
			s->pid = 0;
			return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		}
		sleep_ms(10);
	}
	kill(s->pid, SIGKILL);
	waitpid(s->pid, NULL, 0);
	s->pid = 0;
	return -1;
}

/* ---- tokens ---- */

/* `rollcall token add --org ORG --role ROLE --name NAME [more]`: the token
 * printed, into out (47 bytes). */
static inline void api_token(struct e2e *e, const char *org, const char *role, const char *name,
			     const char *more, char out[TOKEN_LEN + 1])
{
	char args[512], text[256];
	snprintf(args, sizeof args, "token add --org %s --role %s --name '%s' %s", org, role, name,
		 more ? more : "");
	assert_int_equal(e2e_rollcall(e, args), 0);
	e2e_slurp(e, "out", text, sizeof text);
	assert_int_equal(strlen(text), TOKEN_LEN + 1); /* and its '\n' */
	memcpy(out, text, TOKEN_LEN);
	out[TOKEN_LEN] = '\0';
}

/* ---- HTTP ---- */

/* The status codes each route was seen to answer, for api_check_documented. */
#define API_SEEN_MAX 512
static struct {
	char method[8], pattern[64];
	int status;
} api_seen[API_SEEN_MAX];
static int api_nseen;

/* The route pattern of a concrete path, as the server's table names it. */
static inline const char *api_pattern_of(const char *method, const char *path)
{
	const struct api_route_info *routes;
	int n = api_routes(&routes);
	for (int i = 0; i < n; i++) {
		const char *p = routes[i].pattern, *q = path;
		while (*p && *q) {
			if (*p == '{') {
				q += strcspn(q, "/");
				p = strchr(p, '}') + 1;
			} else if (*p++ != *q++)
				break;
		}
		if (!*p && !*q && !strcmp(routes[i].method, method))
			return routes[i].pattern;
	}
	return NULL;
}

static inline void api_note(const char *method, const char *path, int status)
{
	char bare[256];
	snprintf(bare, sizeof bare, "%s", path);
	bare[strcspn(bare, "?")] = '\0';
	const char *pattern = api_pattern_of(method, bare);
	if (!pattern)
		return; /* a path no route has: nothing to document but the API's 400 and 404 */
	for (int i = 0; i < api_nseen; i++)
		if (!strcmp(api_seen[i].method, method) && !strcmp(api_seen[i].pattern, pattern) &&
		    api_seen[i].status == status)
			return;
	assert_true(api_nseen < API_SEEN_MAX);
	snprintf(api_seen[api_nseen].method, sizeof api_seen[0].method, "%s", method);
	snprintf(api_seen[api_nseen].pattern, sizeof api_seen[0].pattern, "%s", pattern);
	api_seen[api_nseen++].status = status;
}

struct api_reply {
	long status;
	char *body;
	size_t len;
	char etag[80];
	char retry_after[16];
	char content_type[80];
};

static inline size_t api_body_cb(char *data, size_t size, size_t n, void *arg)
{
	struct api_reply *r = arg;
	r->body = realloc(r->body, r->len + size * n + 1);
	memcpy(r->body + r->len, data, size * n);
	r->len += size * n;
	r->body[r->len] = '\0';
	return size * n;
}

static inline size_t api_header_cb(char *data, size_t size, size_t n, void *arg)
{
	struct api_reply *r = arg;
	size_t len = size * n;
	struct {
		const char *name;
		char *into;
		size_t size;
	} wanted[] = { { "etag:", r->etag, sizeof r->etag },
		       { "retry-after:", r->retry_after, sizeof r->retry_after },
		       { "content-type:", r->content_type, sizeof r->content_type } };
	for (size_t i = 0; i < sizeof wanted / sizeof *wanted; i++) {
		size_t k = strlen(wanted[i].name);
		if (len > k && !strncasecmp(data, wanted[i].name, k)) {
			const char *v = data + k;
			while (*v == ' ')
				v++;
			size_t vlen = len - (size_t)(v - data);
			while (vlen && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n'))
				vlen--;
			snprintf(wanted[i].into, wanted[i].size, "%.*s", (int)vlen, v);
		}
	}
	return len;
}

/* One request to the server: method, path (from /api/v1/...), the token
 * (NULL: none), content type and body (NULL: none), one more header line
 * (NULL: none). The status is noted for api_check_documented. */
static inline struct api_reply api_call(const struct api_server *s, const char *method,
					const char *path, const char *token,
					const char *content_type, const char *body, size_t len,
					const char *header)
{
	struct api_reply r = { 0 };
	char url[512], auth[128], type[128];
	CURL *c = curl_easy_init();
	struct curl_slist *h = NULL;
	snprintf(url, sizeof url, "http://127.0.0.1:%d%s", s->port, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
	if (token) {
		snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
		h = curl_slist_append(h, auth);
	}
	if (content_type) {
		snprintf(type, sizeof type, "Content-Type: %s", content_type);
		h = curl_slist_append(h, type);
	}
	if (header)
		h = curl_slist_append(h, header);
	h = curl_slist_append(h, "Expect:");
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	if (body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	}
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, api_body_cb);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, api_header_cb);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &r);
	CURLcode rc = curl_easy_perform(c);
	if (rc != CURLE_OK)
		fail_msg("%s %s: %s", method, path, curl_easy_strerror(rc));
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	if (!r.body)
		r.body = calloc(1, 1);
	api_note(method, path, (int)r.status);
	return r;
}

/* Send bytes over a fresh connection; the status of the answer, 0 if the
 * server closed it without one. */
static inline int api_raw_status(const struct api_server *s, const char *bytes, size_t len)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)s->port) };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
	struct timeval tv = { 10, 0 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	size_t sent = 0;
	while (sent < len) {
		ssize_t n = send(fd, bytes + sent, len - sent, MSG_NOSIGNAL);
		if (n <= 0)
			break; /* the server may answer and close before it all came */
		sent += (size_t)n;
	}
	shutdown(fd, SHUT_WR);
	char buf[512];
	size_t got = 0;
	while (got < sizeof buf - 1) {
		ssize_t n = recv(fd, buf + got, sizeof buf - 1 - got, 0);
		if (n <= 0)
			break;
		got += (size_t)n;
		buf[got] = '\0';
		if (strstr(buf, "\r\n"))
			break;
	}
	close(fd);
	buf[got] = '\0';
	int status = 0;
	if (sscanf(buf, "HTTP/1.%*c %d", &status) != 1)
		status = 0;
	return status;
}

static inline struct api_reply api_get(const struct api_server *s, const char *path,
				       const char *token)
{
	return api_call(s, "GET", path, token, NULL, NULL, 0, NULL);
}

static inline struct api_reply api_json(const struct api_server *s, const char *method,
					const char *path, const char *token, const char *body)
{
	return api_call(s, method, path, token, "application/json", body, strlen(body), NULL);
}

/* The reply's body as JSON (fails the test if it is not), owned by the
 * caller; the reply's body is freed. */
static inline json_t *api_body(struct api_reply *r)
{
	json_error_t err;
	json_t *o = json_loads(r->body, 0, &err);
	if (!o)
		fail_msg("not JSON (%ld): %.200s (%s)", r->status, r->body, err.text);
	free(r->body);
	r->body = NULL;
	return o;
}

/* Expect status; returns the body as JSON (NULL for a body that is not
 * JSON, such as the report's page). An error's body must be {"error":
 * text, "field": text or null}. */
static inline json_t *api_expect(struct api_reply r, long status, const char *what)
{
	if (r.status != status)
		fail_msg("%s: status %ld, expected %ld: %.300s", what, r.status, status, r.body);
	if (strncmp(r.content_type, "application/json", 16) != 0) {
		free(r.body);
		return NULL;
	}
	json_t *o = api_body(&r);
	if (status >= 400) {
		json_t *field = json_object_get(o, "field");
		if (!json_is_string(json_object_get(o, "error")) ||
		    !(json_is_string(field) || json_is_null(field)))
			fail_msg("%s: an error body must be {error, field}", what);
	}
	return o;
}

/* ---- the database, unchanged ---- */

/* Every row of every table, as text, in a fixed order: two dumps compare
 * equal if and only if nothing was stored, changed or removed. The one
 * column left out is tokens.last_used_at, which a token's use moves (at
 * most once a minute) whatever the request comes to. */
static inline char *api_dump(struct e2e *e)
{
	sqlite3 *db = e2e_db(e);
	sqlite3_stmt *tables, *st;
	char *out = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&out, &size);
	assert_int_equal(sqlite3_prepare_v2(db,
					    "SELECT name FROM sqlite_master WHERE type = 'table' "
					    "ORDER BY name",
					    -1, &tables, NULL),
			 SQLITE_OK);
	while (sqlite3_step(tables) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(tables, 0);
		char sql[256];
		if (!strcmp(name, "tokens"))
			snprintf(sql, sizeof sql,
				 "SELECT id, org, role, name, sha256, created_at, created_by, "
				 "expires_at, revoked_at FROM tokens ORDER BY id");
		else
			snprintf(sql, sizeof sql, "SELECT * FROM \"%s\" ORDER BY 1", name);
		assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
		fprintf(f, "== %s\n", name);
		while (sqlite3_step(st) == SQLITE_ROW) {
			for (int i = 0; i < sqlite3_column_count(st); i++) {
				const unsigned char *v = sqlite3_column_text(st, i);
				fprintf(f, "%s|", v ? (const char *)v : "NULL");
			}
			fputc('\n', f);
		}
		sqlite3_finalize(st);
	}
	sqlite3_finalize(tables);
	sqlite3_close(db);
	fclose(f);
	return out;
}

/* ---- docs/api.yaml ---- */

/* The value node of key in mapping node m, or NULL. */
static inline yaml_node_t *yaml_get(yaml_document_t *doc, yaml_node_t *m, const char *key)
{
	if (!m || m->type != YAML_MAPPING_NODE)
		return NULL;
	for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = yaml_document_get_node(doc, p->key);
		if (k && k->type == YAML_SCALAR_NODE && strlen(key) == k->data.scalar.length &&
		    !memcmp(k->data.scalar.value, key, k->data.scalar.length))
			return yaml_document_get_node(doc, p->value);
	}
	return NULL;
}

static inline const char *yaml_text(yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

/* docs/api.yaml, loaded. */
static inline void api_yaml_load(yaml_document_t *doc)
{
	char path[PATH_MAX + 32];
	snprintf(path, sizeof path, "%s/docs/api.yaml", e2e_root);
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	yaml_parser_t parser;
	assert_true(yaml_parser_initialize(&parser));
	yaml_parser_set_input_file(&parser, f);
	if (!yaml_parser_load(&parser, doc))
		fail_msg("docs/api.yaml: line %zu: %s", parser.problem_mark.line + 1,
			 parser.problem ? parser.problem : "not YAML");
	yaml_parser_delete(&parser);
	fclose(f);
	assert_non_null(yaml_document_get_root_node(doc));
}

/* Every route of the server's table is in docs/api.yaml with its role
 * (x-role), and every status a test saw a route answer is among its
 * documented responses; and the document has no path or method the table
 * has not. */
static inline void api_check_documented(void)
{
	yaml_document_t doc;
	api_yaml_load(&doc);
	yaml_node_t *root = yaml_document_get_root_node(&doc);
	const char *version = yaml_text(yaml_get(&doc, root, "openapi"));
	assert_non_null(version);
	assert_int_equal(strncmp(version, "3.0", 3), 0);
	yaml_node_t *paths = yaml_get(&doc, root, "paths");
	assert_non_null(paths);
	const struct api_route_info *routes;
	int n = api_routes(&routes);
	for (int i = 0; i < n; i++) {
		char method[8] = "";
		for (int k = 0; routes[i].method[k] && k < 7; k++)
			method[k] = (char)(routes[i].method[k] >= 'A' && routes[i].method[k] <= 'Z'
						   ? routes[i].method[k] + 32
						   : routes[i].method[k]);
		yaml_node_t *op = yaml_get(&doc, yaml_get(&doc, paths, routes[i].pattern), method);
		if (!op)
			fail_msg("docs/api.yaml: no %s %s", routes[i].method, routes[i].pattern);
		const char *role = yaml_text(yaml_get(&doc, op, "x-role"));
		if (!role || strcmp(role, routes[i].role) != 0)
			fail_msg("docs/api.yaml: %s %s: x-role %s, the server's table says %s",
				 routes[i].method, routes[i].pattern, role ? role : "missing",
				 routes[i].role);
		yaml_node_t *responses = yaml_get(&doc, op, "responses");
		for (int s = 0; s < api_nseen; s++) {
			char code[8];
			if (strcmp(api_seen[s].pattern, routes[i].pattern) ||
			    strcmp(api_seen[s].method, routes[i].method))
				continue;
			snprintf(code, sizeof code, "%d", api_seen[s].status);
			if (!yaml_get(&doc, responses, code))
				fail_msg("docs/api.yaml: %s %s answered %d in a test, not "
					 "documented",
					 routes[i].method, routes[i].pattern, api_seen[s].status);
		}
	}
	/* and nothing documented that the server does not serve */
	for (yaml_node_pair_t *p = paths->data.mapping.pairs.start;
	     p < paths->data.mapping.pairs.top; p++) {
		const char *path = yaml_text(yaml_document_get_node(&doc, p->key));
		yaml_node_t *item = yaml_document_get_node(&doc, p->value);
		assert_non_null(path);
		assert_true(item && item->type == YAML_MAPPING_NODE);
		for (yaml_node_pair_t *q = item->data.mapping.pairs.start;
		     q < item->data.mapping.pairs.top; q++) {
			const char *m = yaml_text(yaml_document_get_node(&doc, q->key));
			char upper[8] = "";
			int found = 0;
			for (int k = 0; m && m[k] && k < 7; k++)
				upper[k] = (char)(m[k] >= 'a' && m[k] <= 'z' ? m[k] - 32 : m[k]);
			if (!strcmp(m, "parameters"))
				continue;
			for (int i = 0; i < n; i++)
				found |= !strcmp(routes[i].pattern, path) &&
					 !strcmp(routes[i].method, upper);
			if (!found)
				fail_msg("docs/api.yaml documents %s %s, which the server does not "
					 "serve",
					 upper, path);
		}
	}
	yaml_document_delete(&doc);
}

#endif
