/*
 * cmd_import.c — `rollcall import [--skip-invalid] [--ignore-extra] FILE...`
 *
 * The header row says what a file holds. Files are taken schools first, then
 * pupils, then marks, whatever order they are named in, so one command can
 * load a whole data set. Each file is one transaction: strict by default (any
 * invalid row and the file imports nothing, every bad row reported as
 * FILE:LINE: reason), or with --skip-invalid the good rows are stored and the
 * bad ones kept in `rejected` with their reasons.
 */
#include "cmd.h"
#include "csv.h"
#include "ingest.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define ERRORS_SHOWN 20 /* invalid rows reported per file; the rest are counted */

struct source {
	const char *name;
	FILE *f;
	struct csv *csv;
	enum row_kind kind;
	int ncolumns;		    /* fields in the header */
	int column[CSV_MAX_FIELDS]; /* header field -> kind column, or -1 (ignored) */
	int bad_header;
};

static int header_column(const struct row_kind_info *k, const char *name, int len)
{
	while (len > 0 && (*name == ' ' || *name == '\t'))
		name++, len--;
	while (len > 0 && (name[len - 1] == ' ' || name[len - 1] == '\t'))
		len--;
	for (int c = 0; k->columns[c]; c++)
		if ((int)strlen(k->columns[c]) == len && strncasecmp(k->columns[c], name, len) == 0)
			return c;
	return -1;
}

/* Read the header and decide the kind: the kind whose columns match most of
 * the header's names. Reports FILE:LINE problems; returns 0 or -1. */
static int read_header(struct source *src, int ignore_extra)
{
	struct csv *c = src->csv;
	int rc = csv_read(c);
	if (rc == CSV_EOF) {
		error("%s: empty file (expected a header row)", src->name);
		return -1;
	}
	if (rc != CSV_RECORD) {
		error("%s:%ld: header: %s", src->name, c->record_line,
		      rc == CSV_IOERR ? strerror(errno) : c->err);
		return -1;
	}
	int best = -1, best_hits = 0;
	for (int k = 0; k < KIND_COUNT; k++) {
		int hits = 0;
		for (int i = 0; i < c->nfields; i++)
			hits += header_column(&ingest_kinds[k], csv_field(c, i),
					      csv_field_len(c, i)) >= 0;
		/* marks and pupils share upn and urn: prefer the kind with most required columns
		 * present */
		if (hits > best_hits) {
			best = k;
			best_hits = hits;
		}
	}
	if (best < 0) {
		error("%s:%ld: cannot tell what the file holds: the header names none of the "
		      "columns of a schools, pupils or marks file",
		      src->name, c->record_line);
		return -1;
	}
	const struct row_kind_info *k = &ingest_kinds[best];
	int seen[ROW_MAX_COLUMNS] = { 0 }, status = 0;
	src->kind = (enum row_kind)best;
	src->ncolumns = c->nfields;
	for (int i = 0; i < c->nfields; i++) {
		int col = header_column(k, csv_field(c, i), csv_field_len(c, i));
		src->column[i] = col;
		if (col >= 0 && seen[col]++) {
			error("%s:%ld: column \"%s\" appears twice", src->name, c->record_line,
			      k->columns[col]);
			status = -1;
		} else if (col < 0 && !ignore_extra) {
			char shown[64];
			snprintf(shown, sizeof shown, "%.40s", csv_field(c, i));
			error("%s:%ld: unexpected column \"%s\" in a %s file (--ignore-extra to "
			      "ignore it)",
			      src->name, c->record_line, shown, k->name);
			status = -1;
		}
	}
	for (int col = 0; col < k->required; col++)
		if (!seen[col]) {
			error("%s:%ld: missing column \"%s\" (a %s file needs %s)", src->name,
			      c->record_line, k->columns[col], k->name,
			      best == KIND_SCHOOLS  ? "urn, name, la_code"
			      : best == KIND_PUPILS ? "upn, urn, year_group"
						    : "upn, urn, date, session, code");
			status = -1;
		}
	return status;
}

/* Map the record's fields to the kind's columns. */
static void fill_row(const struct source *src, struct row *row)
{
	memset(row, 0, sizeof *row);
	for (int i = 0; i < src->csv->nfields && i < src->ncolumns; i++) {
		int col = src->column[i];
		if (col >= 0) {
			row->s[col] = csv_field(src->csv, i);
			row->len[col] = csv_field_len(src->csv, i);
		}
	}
}

/* The record as CSV text for `rejected`, whatever shape it had. */
static void record_text(const struct csv *c, char *buf, size_t size)
{
	struct row all = { 0 };
	size_t n = 0;
	buf[0] = '\0';
	for (int i = 0; i < c->nfields && n + 2 < size; i += ROW_MAX_COLUMNS) {
		int k = 0;
		for (; k < ROW_MAX_COLUMNS && i + k < c->nfields; k++) {
			all.s[k] = csv_field(c, i + k);
			all.len[k] = csv_field_len(c, i + k);
		}
		if (n)
			buf[n++] = ',';
		ingest_row_csv(&all, k, buf + n, size - n);
		n += strlen(buf + n);
	}
}

static int import_file(struct cli *cli, struct ingest *in, struct source *src, int skip_invalid)
{
	struct csv *c = src->csv;
	long rows = 0, invalid = 0, kept_before = 0;
	char why[256], text[2048];
	int rc, tty = isatty(STDERR_FILENO) && cli->verbosity >= 0;

	in->added = in->amended = in->unchanged = in->pupils_changed = 0;
	if (db_begin(&cli->db) < 0)
		return EXIT_FAILURE;
	ingest_begin(in);
	while ((rc = csv_read(c)) != CSV_EOF) {
		const char *reason = why;
		if (rc == CSV_IOERR) {
			error("%s:%ld: read error: %s", src->name, c->record_line, strerror(errno));
			goto fail;
		}
		rows++;
		if (rc == CSV_BAD && c->fatal) {
			/* the quote swallowed the rest: no row after it was read, so
			 * even --skip-invalid cannot keep "the good rows" */
			fprintf(stderr, "%s:%ld: %s\n", src->name, c->record_line, c->err);
			invalid++;
			skip_invalid = 0;
			break;
		} else if (rc == CSV_BAD) {
			reason = c->err;
		} else if (c->nfields != src->ncolumns) {
			snprintf(why, sizeof why, "%d fields, the header has %d", c->nfields,
				 src->ncolumns);
		} else {
			struct row row;
			fill_row(src, &row);
			int bad = ingest_row(in, src->kind, &row, why, sizeof why);
			if (bad < 0)
				goto fail;
			if (!bad && in->nmarks >= INGEST_BATCH_MAX) {
				/* a strict import that has already failed stores nothing */
				if (invalid && !skip_invalid)
					ingest_discard(in);
				else if (ingest_store(in) < 0)
					goto fail;
			}
			if (!bad)
				goto next;
		}
		invalid++;
		if (skip_invalid) {
			record_text(c, text, sizeof text);
			int stored =
				ingest_reject_once(in, src->name, c->record_line, text, reason);
			if (stored < 0)
				goto fail;
			kept_before += !stored;
		} else if (invalid <= ERRORS_SHOWN) {
			fprintf(stderr, "%s:%ld: %s\n", src->name, c->record_line, reason);
		}
	next:
		if (tty && rows % 100000 == 0)
			fprintf(stderr, "\r%s: %ld rows read", src->name, rows);
	}
	if (tty && rows >= 100000)
		fputc('\n', stderr);
	if (invalid && !skip_invalid) {
		if (invalid > ERRORS_SHOWN)
			fprintf(stderr, "%s: and %ld more invalid rows\n", src->name,
				invalid - ERRORS_SHOWN);
		error("%s: %ld of %ld rows invalid; nothing imported from this file "
		      "(fix them, or use --skip-invalid to keep them in `rejected`)",
		      src->name, invalid, rows);
		ingest_discard(in);
		db_rollback(&cli->db);
		return EXIT_USAGE;
	}
	if (src->kind == KIND_MARKS && ingest_store(in) < 0)
		goto fail;
	if (db_commit(&cli->db) < 0)
		goto fail;
	if (cli->verbosity >= 0) {
		printf("%s: %ld %s", src->name, rows - invalid, ingest_kinds[src->kind].name);
		if (src->kind == KIND_MARKS)
			printf(" (%ld new, %ld amended, %ld unchanged; %ld pupils changed)",
			       in->added, in->amended, in->unchanged, in->pupils_changed);
		if (invalid)
			printf("; %ld invalid rows kept in rejected", invalid);
		if (kept_before)
			printf(" (%ld of them already were)", kept_before);
		printf("\n");
	}
	return EXIT_SUCCESS;
fail:
	ingest_discard(in);
	db_rollback(&cli->db);
	error("%s: nothing imported from this file", src->name);
	return EXIT_FAILURE;
}

int cmd_import(struct cli *cli, int argc, char **argv)
{
	int skip_invalid = 0, ignore_extra = 0, i = 1, status = EXIT_SUCCESS;
	for (; i < argc && argv[i][0] == '-' && argv[i][1];) {
		if (cmd_flag(argv, &i, "--skip-invalid"))
			skip_invalid = 1;
		else if (cmd_flag(argv, &i, "--ignore-extra"))
			ignore_extra = 1;
		else if (cmd_flag(argv, &i, "--"))
			break;
		else
			return cmd_usage(cli);
	}
	if (i == argc)
		return cmd_usage(cli);

	int n = argc - i;
	struct source *src = xcalloc((size_t)n, sizeof *src);
	for (int k = 0; k < n; k++) {
		struct source *s = &src[k];
		s->name = argv[i + k];
		s->f = strcmp(s->name, "-") == 0 ? stdin : fopen(s->name, "rb");
		if (!s->f) {
			error("%s: %s", s->name, strerror(errno));
			s->bad_header = 1;
			status = EXIT_USAGE;
			continue;
		}
		s->csv = xmalloc(sizeof *s->csv);
		csv_init(s->csv, s->f);
		if (read_header(s, ignore_extra) < 0) {
			s->bad_header = 1;
			status = EXIT_USAGE;
		}
	}

	struct ingest in;
	if (ingest_open(&in, &cli->db) < 0) {
		status = EXIT_FAILURE;
	} else {
		/* schools before pupils before marks: each may name the ones before */
		for (int kind = 0; kind < KIND_COUNT && status != EXIT_FAILURE; kind++)
			for (int k = 0; k < n && status != EXIT_FAILURE; k++) {
				if (src[k].bad_header || (int)src[k].kind != kind)
					continue;
				int rc = import_file(cli, &in, &src[k], skip_invalid);
				if (rc != EXIT_SUCCESS)
					status = rc;
			}
		ingest_close(&in);
	}
	for (int k = 0; k < n; k++) {
		if (src[k].f && src[k].f != stdin)
			fclose(src[k].f);
		free(src[k].csv);
	}
	free(src);
	return status;
}
