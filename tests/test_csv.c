/*
 * test_csv.c — the RFC 4180 reader: quoting, embedded commas and newlines,
 * CRLF, BOM, line numbers, and every malformed-record error.
 */
#include "testutil.h"
#include "csv.h"

static struct csv *open_text(const char *text, size_t len, FILE **f)
{
	*f = fmemopen((void *)text, len, "rb");
	assert_non_null(*f);
	struct csv *c = malloc(sizeof *c);
	csv_init(c, *f);
	return c;
}

static void field_is(struct csv *c, int i, const char *want)
{
	assert_true(i < c->nfields);
	assert_int_equal(csv_field_len(c, i), (int)strlen(want));
	assert_memory_equal(csv_field(c, i), want, strlen(want));
}

static void quoted_fields_commas_newlines_crlf_bom(void **state)
{
	(void)state;
	static const char text[] = "\xEF\xBB\xBFurn,name\r\n"
				   "100001,\"St Mary's, Eccles\"\r\n"
				   "100002,\"Two\r\nlines\"\r\n"
				   "\r\n"
				   "100003,\"say \"\"hi\"\"\"\n"
				   "100004,";
	FILE *f;
	struct csv *c = open_text(text, sizeof text - 1, &f);
	assert_int_equal(csv_read(c), CSV_RECORD);
	assert_int_equal(c->nfields, 2);
	field_is(c, 0, "urn"); /* the BOM is not part of the first name */
	assert_int_equal(csv_read(c), CSV_RECORD);
	field_is(c, 1, "St Mary's, Eccles");
	assert_int_equal(c->record_line, 2);
	assert_int_equal(csv_read(c), CSV_RECORD);
	field_is(c, 1, "Two\r\nlines");
	assert_int_equal(c->record_line, 3);
	assert_int_equal(csv_read(c), CSV_RECORD); /* the blank line is skipped */
	field_is(c, 1, "say \"hi\"");
	assert_int_equal(c->record_line, 6);
	assert_int_equal(csv_read(c), CSV_RECORD); /* no final newline */
	assert_int_equal(c->nfields, 2);
	field_is(c, 1, "");
	assert_int_equal(c->record_line, 7);
	assert_int_equal(csv_read(c), CSV_EOF);
	free(c);
	fclose(f);
}

/* Each malformed record is reported on its own line, and reading goes on. */
static void malformed_records_are_reported_and_skipped(void **state)
{
	(void)state;
	static const char text[] = "a,b\n"
				   "x\"y,1\n"
				   "\"x\"y,2\n"
				   "n\0l,3\n"
				   "ok,4\n"
				   "\"open,5\n"
				   "6,6\n";
	FILE *f;
	struct csv *c = open_text(text, sizeof text - 1, &f);
	assert_int_equal(csv_read(c), CSV_RECORD);
	assert_int_equal(csv_read(c), CSV_BAD);
	assert_int_equal(c->record_line, 2);
	assert_string_equal(c->err, "quote inside an unquoted field");
	assert_int_equal(csv_read(c), CSV_BAD);
	assert_string_equal(c->err, "text after a closing quote");
	assert_int_equal(csv_read(c), CSV_BAD);
	assert_int_equal(c->record_line, 4);
	assert_string_equal(c->err, "NUL byte in field");
	assert_int_equal(csv_read(c), CSV_RECORD);
	field_is(c, 0, "ok");
	assert_int_equal(c->record_line, 5);
	assert_int_equal(csv_read(c), CSV_BAD);
	assert_string_equal(c->err, "unterminated quoted field (opened on line 6): the rest of "
				    "the file is inside it");
	assert_true(c->fatal);
	assert_int_equal(csv_read(c), CSV_EOF);
	free(c);
	fclose(f);
}

static void limits_hold_on_huge_records(void **state)
{
	(void)state;
	size_t big = 10 * 1024 * 1024;
	char *text = malloc(big + 64);
	strcpy(text, "a,b\n\"");
	memset(text + 5, 'x', big);
	strcpy(text + 5 + big, "\",1\nok,2\n");
	FILE *f;
	struct csv *c = open_text(text, strlen(text), &f);
	assert_int_equal(csv_read(c), CSV_RECORD);
	assert_int_equal(csv_read(c), CSV_BAD);
	assert_string_equal(c->err, "record longer than 65536 bytes");
	assert_int_equal(csv_read(c), CSV_RECORD);
	field_is(c, 0, "ok");
	assert_int_equal(c->record_line, 3);
	free(c);
	fclose(f);

	char many[400] = "";
	for (int i = 0; i < 70; i++)
		strcat(many, "1,");
	strcat(many, "1\n");
	c = open_text(many, strlen(many), &f);
	assert_int_equal(csv_read(c), CSV_BAD);
	assert_string_equal(c->err, "more than 64 fields");
	free(c);
	fclose(f);
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(quoted_fields_commas_newlines_crlf_bom),
		cmocka_unit_test(malformed_records_are_reported_and_skipped),
		cmocka_unit_test(limits_hold_on_huge_records),
	};
	return cmocka_run_group_tests_name("csv", tests, NULL, NULL);
}
