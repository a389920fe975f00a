/*
 * csv.c — RFC 4180 records from a FILE, one byte at a time from a private
 * buffer (import is a hot path; getc's locking per byte is not needed).
 *
 * Errors inside a record set the first reason and let the record run to its
 * end, so the stream stays in step: the next call starts at the next record.
 */
#include "csv.h"

#include <stddef.h>
#include <string.h>

void csv_init(struct csv *c, FILE *f)
{
	memset(c, 0, offsetof(struct csv, rbuf));
	c->f = f;
	c->line = 1;
	c->rpos = c->rlen = 0;
	c->started = 0;
	c->eof = 0;
}

/* Next byte, or -1 at end of input, -2 on a read error. */
static int next_byte(struct csv *c)
{
	if (c->rpos == c->rlen) {
		if (c->eof)
			return -1;
		c->rlen = fread(c->rbuf, 1, sizeof c->rbuf, c->f);
		c->rpos = 0;
		if (c->rlen == 0) {
			c->eof = 1;
			return ferror(c->f) ? -2 : -1;
		}
	}
	return c->rbuf[c->rpos++];
}

static int peek_byte(struct csv *c)
{
	int b = next_byte(c);
	if (b >= 0)
		c->rpos--;
	return b;
}

static void fail(struct csv *c, const char *why)
{
	if (!c->err[0])
		snprintf(c->err, sizeof c->err, "%s", why);
}

static void put(struct csv *c, int b)
{
	if (c->len >= CSV_MAX_RECORD + (size_t)c->nfields) {
		fail(c, "record longer than 65536 bytes");
		return;
	}
	c->data[c->len++] = (char)b;
}

static void end_field(struct csv *c)
{
	if (c->nfields >= CSV_MAX_FIELDS) {
		fail(c, "more than 64 fields");
		return;
	}
	if (c->len >= sizeof c->data) {
		fail(c, "record longer than 65536 bytes");
		c->len = sizeof c->data - 1;
	}
	c->data[c->len++] = '\0';
	c->off[++c->nfields] = (unsigned)c->len;
}

/* A newline is LF, CRLF or a lone CR; b is its first byte. */
static void eat_newline(struct csv *c, int b)
{
	if (b == '\r' && peek_byte(c) == '\n')
		next_byte(c);
	c->line++;
}

int csv_read(struct csv *c)
{
	int b;

	if (!c->started) {
		/* Skip a UTF-8 byte-order mark; short reads from a pipe may need
		 * more than one fread to see all three bytes. */
		c->started = 1;
		while (c->rlen < 3 && !c->eof) {
			size_t n = fread(c->rbuf + c->rlen, 1, sizeof c->rbuf - c->rlen, c->f);
			if (n == 0)
				c->eof = 1;
			c->rlen += n;
		}
		if (ferror(c->f))
			return CSV_IOERR;
		c->eof = 0;
		if (c->rlen >= 3 && memcmp(c->rbuf, "\xEF\xBB\xBF", 3) == 0)
			c->rpos = 3;
	}
again:
	c->err[0] = '\0';
	c->nfields = 0;
	c->len = 0;
	c->off[0] = 0;
	c->record_line = c->line;

	b = next_byte(c);
	if (b == -2)
		return CSV_IOERR;
	if (b == -1)
		return CSV_EOF;
	if (b == '\n' || b == '\r') { /* an empty line holds no record */
		eat_newline(c, b);
		goto again;
	}
	for (;;) {
		/* At the start of a field, holding its first byte in b. */
		if (b == '"') {
			long opened = c->line;
			for (;;) {
				b = next_byte(c);
				if (b == -2)
					return CSV_IOERR;
				if (b == -1) {
					snprintf(c->err, sizeof c->err,
						 "unterminated quoted field (opened on line %ld): "
						 "the rest of the file is inside it",
						 opened);
					c->fatal = 1;
					return CSV_BAD;
				}
				if (b == '"') {
					if (peek_byte(c) != '"')
						break;
					next_byte(c);
				} else if (b == '\n' || (b == '\r' && peek_byte(c) != '\n')) {
					c->line++; /* a newline inside the field is data */
				} else if (b == 0) {
					fail(c, "NUL byte in field");
					continue;
				}
				put(c, b);
			}
			b = next_byte(c);
			while (b >= 0 && b != ',' && b != '\n' && b != '\r') {
				fail(c, "text after a closing quote");
				put(c, b);
				b = next_byte(c);
			}
		} else {
			while (b >= 0 && b != ',' && b != '\n' && b != '\r') {
				if (b == '"')
					fail(c, "quote inside an unquoted field");
				else if (b == 0)
					fail(c, "NUL byte in field");
				if (b != 0)
					put(c, b);
				b = next_byte(c);
			}
		}
		if (b == -2)
			return CSV_IOERR;
		end_field(c);
		if (b == ',') {
			b = next_byte(c);
			if (b == -2)
				return CSV_IOERR;
			continue;
		}
		if (b == '\n' || b == '\r')
			eat_newline(c, b);
		break;
	}
	return c->err[0] ? CSV_BAD : CSV_RECORD;
}
