/*
 * fuzz_config.c — libFuzzer target: rollcall.conf, read as Lua data in an
 * empty state. Any input must be accepted or refused with a message, never
 * crash, loop or leak.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static char path[64];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!path[0])
		snprintf(path, sizeof path, "/tmp/rollcall-fuzz-%d.conf", (int)getpid());
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0)
		abort();
	struct config c;
	config_load(&c, path, 0);
	config_free(&c);
	return 0;
}
