/*
 * lualex.c — calls in Lua source text (lualex.h). A tokenizer of Lua 5.4's
 * lexical rules (manual §3.1) that keeps only what a call needs: names,
 * strings, and the punctuation around them.
 */
#include "lualex.h"

#include "util.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

enum { T_NAME, T_STRING, T_LONG_STRING, T_PUNCT, T_OTHER };

struct token {
	int type, line;
	int escaped;   /* a short string with an escape: not a plain literal */
	const char *s; /* a string's contents, without its quotes */
	size_t len;
};

struct lexer {
	const char *s, *end;
	int line;
};

/* The level of a long bracket at s ("[[" 0, "[==[" 2), or -1. */
static int long_bracket(const char *s, const char *end)
{
	const char *p = s + 1;
	while (p < end && *p == '=')
		p++;
	return p < end && *s == '[' && *p == '[' ? (int)(p - s - 1) : -1;
}

/* Past the long bracket of level level opened at x->s; *body and *len
 * give what it holds. */
static void skip_long(struct lexer *x, int level, const char **body, size_t *len)
{
	const char *p = x->s + level + 2;
	*body = p;
	for (; p < x->end; p++) {
		if (*p == '\n')
			x->line++;
		else if (*p == ']' && p + level + 1 < x->end && p[level + 1] == ']') {
			int n = 0;
			while (n < level && p[1 + n] == '=')
				n++;
			if (n == level) {
				*len = (size_t)(p - *body);
				x->s = p + level + 2;
				return;
			}
		}
	}
	*len = (size_t)(p - *body); /* unfinished: Lua refuses the file anyway */
	x->s = p;
}

static void skip_space(struct lexer *x)
{
	while (x->s < x->end) {
		if (*x->s == '\n') {
			x->line++;
			x->s++;
		} else if (isspace((unsigned char)*x->s)) {
			x->s++;
		} else if (x->end - x->s >= 2 && x->s[0] == '-' && x->s[1] == '-') {
			x->s += 2;
			int level = x->s < x->end ? long_bracket(x->s, x->end) : -1;
			const char *body;
			size_t len;
			if (level >= 0)
				skip_long(x, level, &body, &len);
			else
				while (x->s < x->end && *x->s != '\n')
					x->s++;
		} else
			return;
	}
}

static int next(struct lexer *x, struct token *t)
{
	skip_space(x);
	if (x->s >= x->end)
		return 0;
	const char *p = x->s;
	t->line = x->line;
	t->s = p;
	t->escaped = 0;
	if (isalpha((unsigned char)*p) || *p == '_' || isdigit((unsigned char)*p)) {
		/* a number is read as a name-like run: it is never followed by
		 * call syntax that matters here */
		t->type = isdigit((unsigned char)*p) ? T_OTHER : T_NAME;
		while (p < x->end && (isalnum((unsigned char)*p) || *p == '_' ||
				      (t->type == T_OTHER && *p == '.')))
			p++;
		t->len = (size_t)(p - x->s);
		x->s = p;
	} else if (*p == '"' || *p == '\'') {
		t->type = T_STRING;
		t->s = ++p;
		while (p < x->end && *p != *x->s && *p != '\n') {
			if (*p == '\\' && p + 1 < x->end) {
				t->escaped = 1;
				if (p[1] == '\n')
					x->line++;
				p++;
			}
			p++;
		}
		t->len = (size_t)(p - t->s);
		x->s = p < x->end ? p + 1 : p;
	} else if (*p == '[' && long_bracket(p, x->end) >= 0) {
		t->type = T_LONG_STRING;
		skip_long(x, long_bracket(p, x->end), &t->s, &t->len);
	} else {
		t->type = T_PUNCT;
		t->len = 1;
		x->s = p + 1;
	}
	return 1;
}

static int is(const struct token *t, const char *text)
{
	return t->len == strlen(text) && memcmp(t->s, text, t->len) == 0;
}

static int punct(const struct token *t, char c)
{
	return t->type == T_PUNCT && *t->s == c;
}

/* Reserved words are names to the tokenizer, never called. */
static int reserved(const struct token *t)
{
	static const char *const words[] = { "and",   "break",	"do",	  "else",     "elseif",
					     "end",   "false",	"for",	  "function", "goto",
					     "if",    "in",	"local",  "nil",      "not",
					     "or",    "repeat", "return", "then",     "true",
					     "until", "while",	NULL };
	for (int i = 0; words[i]; i++)
		if (t->type == T_NAME && is(t, words[i]))
			return 1;
	return 0;
}

/* Every token of src[0..len), into a new array; *n of them. */
static struct token *tokens(const char *src, size_t len, size_t *n)
{
	struct lexer x = { src, src + len, 1 };
	struct token *t = NULL;
	size_t cap = 0;
	for (*n = 0;; ++*n) {
		if (*n == cap)
			t = xrealloc(t, (cap = cap ? cap * 2 : 256) * sizeof *t);
		if (!next(&x, &t[*n]))
			break;
	}
	return t;
}

/* Is name token i a member (the b of a.b or a:b)? Not after "..", which
 * joins strings: `"x" .. param "y"` calls param. */
static int after_member(const struct token *t, size_t i)
{
	if (i == 0)
		return 0;
	if (punct(&t[i - 1], ':'))
		return 1;
	return punct(&t[i - 1], '.') &&
	       !(i >= 2 && punct(&t[i - 2], '.') && t[i - 2].s + 1 == t[i - 1].s);
}

/* The end (one past the last token) of the chain a.b:c starting at name
 * token i. */
static size_t chain_end(const struct token *t, size_t n, size_t i)
{
	size_t last = i;
	while (last + 2 < n && (punct(&t[last + 1], '.') || punct(&t[last + 1], ':')) &&
	       t[last + 2].type == T_NAME)
		last += 2;
	return last + 1;
}

int lualex_calls(const char *src, size_t len, int (*each)(const struct lua_call *c, void *arg),
		 void *arg)
{
	size_t n;
	struct token *t = tokens(src, len, &n);
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < n; i++) {
		if (t[i].type != T_NAME || reserved(&t[i]))
			continue;
		/* a chain a.b:c starts at a name not after '.' or ':' */
		if (after_member(t, i))
			continue;
		size_t last = chain_end(t, n, i) - 1;
		int defined = i > 0 && t[i - 1].type == T_NAME && is(&t[i - 1], "function");
		size_t after = last + 1;
		if (defined || after >= n)
			continue;
		struct lua_call c = { .name = t[i].s,
				      .namelen = (size_t)(t[last].s + t[last].len - t[i].s),
				      .base = t[last].s,
				      .line = t[i].line };
		const struct token *arg0 = NULL;
		if (t[after].type == T_STRING || t[after].type == T_LONG_STRING)
			arg0 = &t[after];
		else if (punct(&t[after], '(')) {
			if (after + 2 < n && t[after + 1].type == T_STRING &&
			    (punct(&t[after + 2], ',') || punct(&t[after + 2], ')')))
				arg0 = &t[after + 1];
		} else if (!punct(&t[after], '{')) {
			i = last;
			continue; /* not a call */
		}
		if (arg0 && arg0->type == T_STRING && !arg0->escaped) {
			c.literal = arg0->s;
			c.literallen = arg0->len;
		}
		rc = each(&c, arg);
		i = last;
	}
	free(t);
	return rc;
}

/* The literal at t[i] (a '-' before a number taken with it): 1 and c
 * filled, else 0. */
static int literal_at(const struct token *t, size_t n, size_t i, struct lua_comparison *c)
{
	size_t j = i + (punct(&t[i], '-') && i + 1 < n);
	const struct token *l = &t[j];
	if (l->type == T_OTHER && isdigit((unsigned char)*l->s))
		c->type = LUALEX_NUMBER;
	else if (l->type == T_STRING || l->type == T_LONG_STRING)
		c->type = LUALEX_STRING;
	else if (is(l, "true") || is(l, "false"))
		c->type = LUALEX_BOOLEAN;
	else if (is(l, "nil"))
		c->type = LUALEX_NIL;
	else
		return 0;
	const char *from = t[i].s, *to = l->s + l->len;
	if (l->type == T_STRING) { /* with its quotes */
		from = l->s - 1;
		to++;
	}
	c->literal = from;
	c->literallen = (size_t)(to - from);
	return 1;
}

/* "==" or "~=" at tokens i, i + 1, or NULL. */
static const char *comparison_at(const struct token *t, size_t n, size_t i)
{
	if (i + 1 >= n || !punct(&t[i + 1], '=') || t[i + 1].s != t[i].s + 1)
		return NULL;
	return punct(&t[i], '=') ? "==" : punct(&t[i], '~') ? "~=" : NULL;
}

int lualex_comparisons(const char *src, size_t len,
		       int (*each)(const struct lua_comparison *c, void *arg), void *arg)
{
	size_t n;
	struct token *t = tokens(src, len, &n);
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < n; i++) {
		if (t[i].type != T_NAME || reserved(&t[i]) || after_member(t, i))
			continue;
		size_t end = chain_end(t, n, i);
		struct lua_comparison c = { .name = t[i].s,
					    .namelen = (size_t)(t[end - 1].s + t[end - 1].len -
								t[i].s),
					    .line = t[i].line };
		/* name == literal, or literal == name (a '-' is its own token) */
		if ((c.op = comparison_at(t, n, end)) && end + 2 < n &&
		    literal_at(t, n, end + 2, &c))
			rc = each(&c, arg);
		else if (i >= 3 && (c.op = comparison_at(t, n, i - 2)) &&
			 ((i >= 4 && punct(&t[i - 4], '-') && literal_at(t, n, i - 4, &c)) ||
			  literal_at(t, n, i - 3, &c)))
			rc = each(&c, arg);
		i = end - 1;
	}
	free(t);
	return rc;
}
