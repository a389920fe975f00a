/*
 * csv.h — a streaming RFC 4180 reader.
 *
 * Quoted fields, "" escapes, embedded commas and newlines, CRLF or LF, an
 * optional UTF-8 byte-order mark. Records are returned one at a time with the
 * line they start on, so every error can name FILE:LINE. A malformed record
 * (stray quote, NUL byte, too long, too many fields) is reported and skipped;
 * reading carries on with the next record, so one bad row never hides the
 * rest. Memory is bounded by CSV_MAX_RECORD whatever the input.
 */
#ifndef ROLLCALL_CSV_H
#define ROLLCALL_CSV_H

#include <stdio.h>

#define CSV_MAX_RECORD 65536 /* bytes of field data in one record */
#define CSV_MAX_FIELDS 64

struct csv {
	FILE *f;
	long line;	  /* physical line of the next character */
	long record_line; /* line the last record started on */
	int nfields;
	char err[160]; /* why the last record was refused */
	int fatal;     /* the rest of the input cannot be read as records */

	unsigned char rbuf[65536];
	size_t rpos, rlen;
	int started; /* the byte-order mark check is done */
	int eof;

	size_t len;			  /* bytes used in data */
	unsigned off[CSV_MAX_FIELDS + 1]; /* field i is data[off[i]] .. NUL */
	char data[CSV_MAX_RECORD + CSV_MAX_FIELDS + 1];
};

enum { CSV_EOF = 0, CSV_RECORD = 1, CSV_BAD = -1, CSV_IOERR = -2 };

void csv_init(struct csv *c, FILE *f);

/* Read the next non-empty record. CSV_RECORD: fields are ready. CSV_BAD: the
 * record starting at record_line is malformed (reason in err); call again for
 * the next. CSV_EOF at the end, CSV_IOERR if reading failed. */
int csv_read(struct csv *c);

/* Field i of the last record (NUL-terminated; may contain no NUL). */
static inline const char *csv_field(const struct csv *c, int i)
{
	return c->data + c->off[i];
}
static inline int csv_field_len(const struct csv *c, int i)
{
	return (int)(c->off[i + 1] - c->off[i] - 1);
}

#endif
