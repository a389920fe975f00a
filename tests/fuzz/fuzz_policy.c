/*
 * fuzz_policy.c — libFuzzer target: loading a policy from source text in the
 * sandbox (the declaration checks, the allow-list, the budgets). Any input
 * is loaded or refused with FILE:LINE, never a crash or an escape.
 */
#include "policy.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static char path[64];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!path[0])
		snprintf(path, sizeof path, "/tmp/rollcall-fuzz-%d.lua", (int)getpid());
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0)
		abort();
	struct policy p;
	char err[2048];
	/* small budgets: a fuzzer finds loops quickly, and must not wait on them */
	if (policy_load(&p, path, "scripts", 8u << 20, 200000, err, sizeof err) == 0)
		policy_free(&p);
	return 0;
}
