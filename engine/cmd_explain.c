/*
 * cmd_explain.c — `rollcall explain ACTION_ID [--json]`: why an action was
 * taken (explain.h), and whether the policy version that took it, re-run
 * with the values then in force, decides the same.
 *
 * Exit status: 0 it decides the same; 1 it does not, or could not be
 * re-run (the reasons are printed), or a database error; 2 for bad usage
 * or an unknown action.
 */
#include "cmd.h"
#include "explain.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *str(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? s : "-";
}

/* JSON (already made safe when it was built) on one line. */
static void print_json(const char *label, json_t *v)
{
	char *s = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY |
					JSON_REAL_PRECISION(15));
	printf("%s %s\n", label, s ? s : "null");
	free(s);
}

static void print_text(json_t *o)
{
	json_t *a = json_object_get(o, "action"), *p = json_object_get(o, "policy");
	json_t *c = json_object_get(o, "case"), *s = json_object_get(o, "signoff");
	json_t *r = json_object_get(o, "rerun"), *v;
	const char *kind = json_object_get(a, "step") ? str(a, "step") : str(a, "kind");
	size_t i;
	printf("action %lld: %s %s for %s, %s, evaluated %s (recorded %s)\n",
	       (long long)json_integer_value(json_object_get(a, "action_id")), str(a, "action"),
	       kind, str(json_object_get(a, "pupil"), "upn"), str(a, "org"), str(a, "date"),
	       str(a, "created_at"));
	if (json_is_true(json_object_get(p, "kept")))
		printf("policy %s, version %s (kept: first loaded %s, last loaded %s)\n",
		       str(p, "file"), str(p, "sha256"), str(p, "first_loaded"),
		       str(p, "last_loaded"));
	else
		printf("policy version %s: its text was not kept\n", str(p, "sha256"));
	if (json_is_null(json_object_get(o, "line")))
		printf("  the line that recorded it was not kept (recorded before schema "
		       "version 8)\n");
	json_array_foreach(json_object_get(p, "lines"), i, v)
	{
		printf("%s %5lld | %s\n", json_is_true(json_object_get(v, "called")) ? ">" : " ",
		       (long long)json_integer_value(json_object_get(v, "line")), str(v, "text"));
	}
	print_json("params in force:", json_object_get(o, "params"));
	print_json("evidence:", json_object_get(o, "evidence"));
	if (json_is_object(c)) {
		printf("case %lld: stage %s, opened %s, %s%s\n",
		       (long long)json_integer_value(json_object_get(c, "case_id")),
		       str(c, "stage"), str(c, "opened"),
		       json_is_null(json_object_get(c, "closed")) ? "open" : "closed ",
		       json_is_null(json_object_get(c, "closed")) ? "" : str(c, "closed"));
		json_array_foreach(json_object_get(c, "actions"), i, v)
		{
			printf("  %lld %s %s %s %s\n",
			       (long long)json_integer_value(json_object_get(v, "action_id")),
			       str(v, "date"), str(v, "action"), str(v, "kind"), str(v, "state"));
		}
	}
	if (json_is_object(s)) {
		printf("sign-off: %s", str(s, "state"));
		if (json_is_string(json_object_get(s, "decided_by")))
			printf(" by %s at %s", str(s, "decided_by"), str(s, "decided_at"));
		else if (json_is_string(json_object_get(s, "decide_by")))
			printf(", to be decided by %s", str(s, "decide_by"));
		if (json_is_string(json_object_get(s, "note")))
			printf(": %s", str(s, "note"));
		if (json_is_string(json_object_get(s, "decline_reason")))
			printf(": %s", str(s, "decline_reason"));
		printf("\n");
	}
	if (!json_is_true(json_object_get(r, "ran")))
		printf("re-run: not possible\n");
	else if (json_is_true(json_object_get(r, "same")))
		printf("re-run of this version with these params on the pupil's history to %s %s, "
		       "as the record stood: decides the same\n",
		       str(a, "date"), str(r, "session"));
	else {
		printf("re-run of this version with these params on the pupil's history to %s %s, "
		       "as the record stood: does NOT decide the same\n",
		       str(a, "date"), str(r, "session"));
		json_array_foreach(json_object_get(r, "found"), i, v)
		{
			const char *k =
				json_object_get(v, "step") ? str(v, "step") : str(v, "kind");
			printf("  that day it decided: %s %s\n", str(v, "action"), k);
		}
		if (json_array_size(json_object_get(r, "differences")))
			print_json("  differing in:", json_object_get(r, "differences"));
	}
	json_array_foreach(json_object_get(r, "reasons"), i, v)
	{
		printf("  why: %s\n", json_string_value(v));
	}
}

int cmd_explain(struct cli *cli, int argc, char **argv)
{
	const char *id_text = NULL;
	int json = 0;
	for (int i = 1; i < argc;) {
		if (cmd_flag(argv, &i, "--json"))
			json = 1;
		else if (argv[i][0] == '-' || id_text)
			return cmd_usage(cli);
		else
			id_text = argv[i++];
	}
	if (!id_text)
		return cmd_usage(cli);
	char *end;
	long long id = strtoll(id_text, &end, 10);
	if (*end || end == id_text || id <= 0) {
		char *safe = text_safe(id_text, strlen(id_text), NULL);
		error("\"%s\" is not an action id (a whole number, as rollcall actions shows)",
		      safe);
		free(safe);
		return EXIT_USAGE;
	}
	json_t *o;
	int rc = explain_action(&cli->db, &cli->cfg, id, NULL, &o);
	if (rc == EXPLAIN_NOT_FOUND) {
		error("no action %lld", id);
		return EXIT_USAGE;
	}
	if (rc < 0)
		return EXIT_FAILURE;
	if (json) {
		char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
		puts(s ? s : "null");
		free(s);
	} else {
		print_text(o);
	}
	int same = json_is_true(json_object_get(json_object_get(o, "rerun"), "same"));
	json_decref(o);
	return same ? EXIT_SUCCESS : EXIT_FAILURE;
}
