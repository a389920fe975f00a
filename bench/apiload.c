/*
 * bench/apiload.c — load on `rollcall serve` for `make bench`: one request
 * (method, URL, bearer token, optional JSON body) sent over and over by
 * libcurl's multi interface with N in flight on reused connections, for a
 * count of requests, for a number of seconds, or until SIGTERM. Prints
 *
 *   requests N seconds S per_second R ok K
 *
 * where ok counts the 200 answers (anything else is counted, not retried).
 *
 *   bench-apiload URL TOKEN [--method M] [--body JSON] [--concurrency N]
 *                 [--requests N] [--seconds S]
 */
#define _POSIX_C_SOURCE 200809L
#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static volatile sig_atomic_t stop;

static void on_term(int sig)
{
	(void)sig;
	stop = 1;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static size_t discard(char *data, size_t size, size_t n, void *arg)
{
	(void)data;
	(void)arg;
	return size * n;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: bench-apiload URL TOKEN [--method M] [--body JSON] "
				"[--concurrency N] [--requests N] [--seconds S]\n");
		return 2;
	}
	const char *url = argv[1], *method = "GET", *body = NULL;
	long concurrency = 8, limit = 0;
	double seconds = 0;
	for (int i = 3; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--method"))
			method = argv[i + 1];
		else if (!strcmp(argv[i], "--body"))
			body = argv[i + 1];
		else if (!strcmp(argv[i], "--concurrency"))
			concurrency = strtol(argv[i + 1], NULL, 10);
		else if (!strcmp(argv[i], "--requests"))
			limit = strtol(argv[i + 1], NULL, 10);
		else if (!strcmp(argv[i], "--seconds"))
			seconds = strtod(argv[i + 1], NULL);
		else {
			fprintf(stderr, "bench-apiload: unknown option %s\n", argv[i]);
			return 2;
		}
	}
	if (concurrency < 1 || concurrency > 1024)
		concurrency = 8;
	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	char auth[256];
	snprintf(auth, sizeof auth, "Authorization: Bearer %s", argv[2]);
	struct curl_slist *headers = curl_slist_append(NULL, auth);
	if (body)
		headers = curl_slist_append(headers, "Content-Type: application/json");
	CURLM *multi = curl_multi_init();
	CURL **easy = calloc((size_t)concurrency, sizeof *easy);
	long started = 0, done = 0, ok = 0;
	double t0 = now();
	for (long i = 0; i < concurrency && (!limit || started < limit); i++, started++) {
		easy[i] = curl_easy_init();
		curl_easy_setopt(easy[i], CURLOPT_URL, url);
		curl_easy_setopt(easy[i], CURLOPT_CUSTOMREQUEST, method);
		curl_easy_setopt(easy[i], CURLOPT_HTTPHEADER, headers);
		curl_easy_setopt(easy[i], CURLOPT_WRITEFUNCTION, discard);
		curl_easy_setopt(easy[i], CURLOPT_TIMEOUT, 600L);
		if (body)
			curl_easy_setopt(easy[i], CURLOPT_POSTFIELDS, body);
		curl_multi_add_handle(multi, easy[i]);
	}
	int running = 1;
	while (running || done < started) {
		curl_multi_perform(multi, &running);
		CURLMsg *m;
		int left;
		while ((m = curl_multi_info_read(multi, &left))) {
			if (m->msg != CURLMSG_DONE)
				continue;
			long status = 0;
			curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &status);
			ok += m->data.result == CURLE_OK && status == 200;
			done++;
			curl_multi_remove_handle(multi, m->easy_handle);
			int more = !stop && (!limit || started < limit) &&
				   (!seconds || now() - t0 < seconds);
			if (more) { /* the same handle again: its connection is reused */
				curl_multi_add_handle(multi, m->easy_handle);
				started++;
				running = 1;
			}
		}
		if (done >= started)
			break;
		curl_multi_poll(multi, NULL, 0, 100, NULL);
	}
	double t = now() - t0;
	printf("requests %ld seconds %.3f per_second %.1f ok %ld\n", done, t, t > 0 ? done / t : 0,
	       ok);
	for (long i = 0; i < concurrency; i++)
		if (easy[i])
			curl_easy_cleanup(easy[i]);
	free(easy);
	curl_multi_cleanup(multi);
	curl_slist_free_all(headers);
	curl_global_cleanup();
	return ok == done ? 0 : 1;
}
