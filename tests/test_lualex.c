/*
 * test_lualex.c — the calls lualex finds in Lua source: plain, qualified and
 * method calls; a literal first argument only when it is a plain string;
 * nothing inside comments, strings or long brackets; definitions are not
 * calls; line numbers survive multi-line comments and strings.
 */
#include "testutil.h"

#include "lualex.h"

static char seen[2048];

static int note(const struct lua_call *c, void *arg)
{
	(void)arg;
	char one[160];
	snprintf(one, sizeof one, "%d:%.*s(%.*s)[%.*s] ", c->line, (int)c->namelen, c->name,
		 c->literal ? (int)c->literallen : 1, c->literal ? c->literal : "-",
		 (int)(c->name + c->namelen - c->base), c->base);
	strncat(seen, one, sizeof seen - strlen(seen) - 1);
	return 0;
}

static const char *calls(const char *src)
{
	seen[0] = 0;
	assert_int_equal(lualex_calls(src, strlen(src), note, NULL), 0);
	return seen;
}

static void plain_and_literal(void **state)
{
	(void)state;
	assert_string_equal(calls("local r = param \"alert_rate\"\nparam('x', 1)\nparam(y)"),
			    "1:param(alert_rate)[param] 2:param(x)[param] 3:param(-)[param] ");
	assert_string_equal(calls("alert(p, \"low\", { severity = 'high' })"),
			    "1:alert(-)[alert] ");
	assert_string_equal(calls("f{ a = 1 }"), "1:f(-)[f] ");
	/* an escape makes a string no plain literal, but it is still a call */
	assert_string_equal(calls("param \"a\\tb\""), "1:param(-)[param] ");
}

static void qualified(void **state)
{
	(void)state;
	assert_string_equal(calls("if national.persistant(p) then end"),
			    "1:national.persistant(-)[persistant] ");
	assert_string_equal(calls("local w = p:window{ days = 1 }"), "1:p:window(-)[window] ");
	assert_string_equal(calls("x = a.b.c\ny = a.b"), "");
	/* after "..", which joins strings, a name starts a call of its own */
	assert_string_equal(calls("local s = 'x' .. param 'nope' .. national.severx(p)"),
			    "1:param(nope)[param] 1:national.severx(-)[severx] ");
}

static void not_calls(void **state)
{
	(void)state;
	assert_string_equal(calls("-- alert(p, 'x')\n--[[ legal_step(p)\n]] --[==[ a()]] ]==]"
				  "\nlocal s = \"close_case(p)\" .. [[refer_mentor(p)]]\nz()"),
			    "5:z(-)[z] ");
	assert_string_equal(calls("function on_pupil(p) end\nlocal function g(x) end\n"
				  "function m.f(x) end\nfunction m:f(x) end"),
			    "");
	assert_string_equal(calls("if (a) then return (b) end"), "");
	assert_string_equal(calls("x = 1e5 (y)"), "");
}

static void lines(void **state)
{
	(void)state;
	assert_string_equal(calls("local s = [[\n\n]]\n--[[\n]]\nf()\nlocal t = 'a\\\nb'\ng()"),
			    "6:f(-)[f] 9:g(-)[g] ");
}

static int note_comparison(const struct lua_comparison *c, void *arg)
{
	(void)arg;
	static const char *const types[] = { "number", "string", "boolean", "nil" };
	char one[160];
	snprintf(one, sizeof one, "%d:%.*s %s %.*s(%s) ", c->line, (int)c->namelen, c->name, c->op,
		 (int)c->literallen, c->literal, types[c->type]);
	strncat(seen, one, sizeof seen - strlen(seen) - 1);
	return 0;
}

static const char *comparisons(const char *src)
{
	seen[0] = 0;
	assert_int_equal(lualex_comparisons(src, strlen(src), note_comparison, NULL), 0);
	return seen;
}

static void comparisons_with_literals(void **state)
{
	(void)state;
	assert_string_equal(comparisons("if p.year_group == 9 and p.social_worker == 1 then end"),
			    "1:p.year_group == 9(number) 1:p.social_worker == 1(number) ");
	assert_string_equal(comparisons("if \"9\" ~= p.year_group or -1 == x then end\n"
					"y = p.fsm == true or p.trust_id == nil"),
			    "1:p.year_group ~= \"9\"(string) 1:x == -1(number) "
			    "2:p.fsm == true(boolean) 2:p.trust_id == nil(nil) ");
	/* not comparisons with a literal: assignments, <=, >=, two names */
	assert_string_equal(comparisons("p.x = 9\nif p.year <= 9 or p.year >= 1 or a == b "
					"then end\n-- p.year_group == 9\n"),
			    "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(plain_and_literal),
		cmocka_unit_test(qualified),
		cmocka_unit_test(not_calls),
		cmocka_unit_test(lines),
		cmocka_unit_test(comparisons_with_literals),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
