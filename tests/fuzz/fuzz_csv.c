/*
 * fuzz_csv.c — libFuzzer target: the CSV reader and row validation, the
 * path every imported byte takes. The first byte picks the kind of row
 * (schools, pupils, marks); the rest is read as CSV records, each record's
 * fields given to ingest_row in column order, against a database that holds
 * tests/data's schools and pupils so that marks can be valid too. Nothing is
 * committed: each input leaves the database as it found it.
 */
#include "csv.h"
#include "db.h"
#include "ingest.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct db db;
static struct ingest in;

static const char seed_rows[] = "135001,\"Eccles Academy, Salford\",355,TR00092,secondary\n"
				"105210,Irlam Primary School,355,,primary\n";
static const char seed_pupils[] = "J355400120001,135001,9,0,N,1\n";

static void feed(enum row_kind kind, const char *text, size_t len)
{
	FILE *f = fmemopen((void *)text, len, "r");
	struct csv *c = malloc(sizeof *c);
	char why[256];
	csv_init(c, f);
	while (csv_read(c) == CSV_RECORD) {
		struct row row = { 0 };
		for (int i = 0; i < c->nfields && i < ROW_MAX_COLUMNS; i++) {
			row.s[i] = csv_field(c, i);
			row.len[i] = csv_field_len(c, i);
		}
		if (ingest_row(&in, kind, &row, why, sizeof why) < 0)
			abort(); /* a database error on valid SQLite: a bug */
	}
	free(c);
	fclose(f);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	char path[] = "/tmp/rollcall-fuzz-XXXXXX";
	int fd = mkstemp(path);
	close(fd);
	unlink(path);
	if (db_open(&db, path, 1) < 0 || db_migrate(&db) < 0 || ingest_open(&in, &db) < 0)
		abort();
	unlink(path); /* gone when the process ends */
	db_begin(&db);
	feed(KIND_SCHOOLS, seed_rows, sizeof seed_rows - 1);
	feed(KIND_PUPILS, seed_pupils, sizeof seed_pupils - 1);
	db_commit(&db);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	if (db_begin(&db) < 0)
		abort();
	ingest_begin(&in);
	feed((enum row_kind)(data[0] % KIND_COUNT), (const char *)data + 1, size - 1);
	if (in.nmarks && ingest_store(&in) < 0)
		abort();
	db_rollback(&db);
	return 0;
}
