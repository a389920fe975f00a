/*
 * main.c — rollcall's entry point: global options, then one subcommand from
 * the table below (git's git.c, tmux's cmd-*.c).
 *
 *   rollcall [--db PATH] [--config PATH] [-q|-v] SUBCOMMAND [ARGS]
 *   rollcall --version
 */
#include "cmd.h"
#include "log.h"
#include "util.h"
#include "version.h"

#include <curl/curl.h>
#include <lua.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { NEED_DB = 1 };

struct command {
	const char *name;
	int (*run)(struct cli *cli, int argc, char **argv);
	int flags;
	const char *usage;
	const char *summary;
	const char *details; /* `rollcall help NAME`: options, one per line */
};

static const struct command commands[] = {
	{ "init", cmd_init, 0, "init", "create or migrate the database",
	  "Creates the database (mode 0600, WAL) or migrates it to this version's\n"
	  "schema in one transaction. Harmless to run again.\n" },
	{ "import", cmd_import, NEED_DB, "import [--skip-invalid] [--ignore-extra] FILE...",
	  "load schools, pupils or marks CSV files ('-' is standard input)",
	  "The header decides what a file holds. Each file is one transaction.\n"
	  "  --skip-invalid   store the good rows, keep each bad one in `rejected`\n"
	  "                   (default: a file with any bad row stores nothing)\n"
	  "  --ignore-extra   ignore columns rollcall does not know\n"
	  "Bad rows are reported as FILE:LINE: reason; exit status 2.\n" },
	{ "pupil", cmd_pupil, NEED_DB, "pupil UPN [--json] [--window KIND=N]...",
	  "a pupil's figures as a policy sees them, open cases, recent actions",
	  "  --json           one JSON object\n"
	  "  --window KIND=N  more windows: sessions=N, school_weeks=N, days=N,\n"
	  "                   since=YYYY-MM-DD, academic_year=true (up to 16)\n" },
	{ "check", cmd_check, 0, "check [POLICY...]",
	  "load policies, run on_pupil over test pupils, report errors with file:line",
	  "Loads each policy (default: every la-NNN.lua and trust-ID.lua in the\n"
	  "policies directory) as `run` would, then runs on_pupil over the built-in\n"
	  "synthetic pupils, each at many points of its history, and, if the\n"
	  "database exists, over up to 500 stored pupils of the policy's at their\n"
	  "latest mark (read-only: nothing is recorded, nothing sent). Also checks\n"
	  "literal param names, calls on required modules, and endpoint names\n"
	  "against rollcall.conf. Each distinct error is reported once, as\n"
	  "FILE:LINE: message (pupil UPN, DATE; how many pupils met it).\n"
	  "Exit status 0 only if every policy passes; 2 if one does not; 1 if the\n"
	  "database cannot be read.\n" },
	{ "run", cmd_run, NEED_DB, "run [--once] [--no-deliver]",
	  "take new marks, evaluate policies, record actions, deliver webhooks",
	  "Without --once: the service. Watches `incoming`, evaluates changed pupils\n"
	  "in batches, delivers webhooks, until SIGTERM or SIGINT (finishes the\n"
	  "batch, waits for deliveries in flight, exit 0). SIGHUP or a changed\n"
	  "*.lua file reloads the policies; one that fails keeps its old version.\n"
	  "  --once        work until nothing is left, then deliver what is due, exit\n"
	  "  --no-deliver  record actions and deliveries, send nothing\n" },
	{ "test", cmd_test, 0, "test [FILE...]",
	  "run policy tests: cases of pupils and marks, and the actions expected",
	  "Runs each test file (default: every *.lua in the policies directory's\n"
	  "tests/), each case in a fresh temporary database, its marks fed session\n"
	  "by session through the engine as the live service takes them; nothing\n"
	  "is delivered, and each proposed legal step is taken as approved on the\n"
	  "day proposed. Prints ok or FAIL FILE:LINE for each case, a summary, and\n"
	  "which action lines of each policy the tests reached.\n"
	  "Exit status 1 if a case failed, 2 if a test file is bad.\n" },
	{ "replay", cmd_replay, 0,
	  "replay --policy FILE [--from DATE] [--to DATE] [--param NAME=VALUE]... [--pupil UPN] "
	  "[--json] [--compare OTHER.lua]",
	  "what a policy would have done over the stored history; changes nothing",
	  "Evaluates one policy where the live service does, after each session's\n"
	  "register (AM, then PM), from the first stored day, with the repeats and\n"
	  "cases that carries; prints its actions and a summary. Each proposed legal\n"
	  "step is taken as approved on the day proposed (the summary says how many\n"
	  "were). Opens the database read-only; sends nothing. Exit status 1 if any\n"
	  "policy call failed (how many, and the first pupils and lines, are said\n"
	  "last).\n"
	  "  --from, --to DATE    the days whose actions are printed (default: all)\n"
	  "  --param NAME=VALUE   replay with this value, not the one in force\n"
	  "                       (repeatable; with --compare, for --policy only)\n"
	  "  --pupil UPN          this pupil only\n"
	  "  --json               one object per action, then {\"summary\": ...}\n"
	  "  --compare OTHER      print what each policy would do that the other would not\n" },
	{ "actions", cmd_actions, NEED_DB, "actions [--org ORG] [--since DATE] [--json]",
	  "list recorded actions",
	  "Oldest first, with their delivery states.\n"
	  "  --org ORG     la:NNN or trust:ID only\n"
	  "  --since DATE  evaluated on or after DATE\n"
	  "  --json        one object per action (the webhook body's data)\n" },
	{ "cases", cmd_cases, NEED_DB,
	  "cases [--org ORG] [--open|--closed] [--pupil UPN] [--limit N] [--json]",
	  "list cases: stage, opened, closed and why, steps",
	  "Newest first (by the date each opened), at most --limit; when there are\n"
	  "more, standard error says how many.\n"
	  "  --org ORG         la:NNN or trust:ID only\n"
	  "  --open, --closed  only open, or only closed, cases\n"
	  "  --pupil UPN       one pupil's cases\n"
	  "  --limit N         at most N (default 100)\n"
	  "  --json            one object per case\n" },
	{ "params", cmd_params, NEED_DB, "params ORG [NAME=VALUE | --reset NAME]...",
	  "show or set an organisation's policy thresholds",
	  "With no NAME=VALUE, lists the policy's parameters, their bounds and\n"
	  "values. Values outside the bounds the policy declares are refused. Each\n"
	  "change is audited (rollcall audit), who the local user.\n" },
	{ "policy", cmd_policy, NEED_DB,
	  "policy show|versions ORG | check|publish ORG FILE | rollback ORG SHA | preview ORG "
	  "NAME=VALUE...",
	  "an organisation's policy: read, check a draft, publish, roll back, preview params",
	  "ORG is la:NNN or trust:ID; its policy is the file its name gives in the\n"
	  "policies directory (la-NNN.lua, trust-ID.lua), written by nothing else.\n"
	  "  show ORG [--sha256 SHA] [--json]  the live text, or a kept version's\n"
	  "  versions ORG [--json]             every version kept, newest first\n"
	  "  check ORG FILE [--days N] [--json]\n"
	  "                 check FILE as rollcall check does, as ORG's policy, then\n"
	  "                 replay it beside the live version over the last N days\n"
	  "                 (default 28) up to the latest day stored\n"
	  "  publish ORG FILE [--if-sha256 SHA] [--by NAME] [--json]\n"
	  "                 checked, then written atomically as ORG's file; the\n"
	  "                 version kept and audited (policy.publish); the service\n"
	  "                 reloads it. --if-sha256: only if SHA is the live version\n"
	  "                 (none: only if there is no file yet)\n"
	  "  rollback ORG SHA [--if-sha256 SHA] [--by NAME] [--json]\n"
	  "                 make a kept version live again, checked again; audited\n"
	  "                 (policy.rollback)\n"
	  "  preview ORG NAME=VALUE... [--days N] [--json]\n"
	  "                 the live policy replayed with those params beside the\n"
	  "                 values in force: actions by kind, pupils, differences\n"
	  "  --by NAME      who publishes (default: the local user)\n"
	  "Exit status 2, nothing written, for a text that fails check or speaks for\n"
	  "another organisation, a param out of bounds, a version not live\n"
	  "(--if-sha256), or an unknown organisation or version.\n" },
	{ "deliveries", cmd_deliveries, NEED_DB, "deliveries [--failed] [--json]",
	  "the webhook outbox: state, attempts, last status and error",
	  "Newest first.\n"
	  "  --failed  only dead, endpoint-less, and retrying deliveries\n"
	  "  --json    one object per delivery\n" },
	{ "redeliver", cmd_redeliver, NEED_DB,
	  "redeliver ID... | --endpoint NAME --since TIME [--state dead]",
	  "queue dead deliveries again (same webhook-id)",
	  "Makes each dead (or endpoint-less, once its endpoint is configured)\n"
	  "delivery pending again, due now, with its attempts reset.\n"
	  "  --endpoint NAME --since TIME  every delivery to NAME queued at or after\n"
	  "                   TIME (YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ, UTC) that is\n"
	  "                   dead, in one transaction, audited once per organisation\n"
	  "                   with the count; more than 10,000 is refused\n"
	  "  --state STATE    dead (default) or no_endpoint\n" },
	{ "endpoint", cmd_endpoint, NEED_DB,
	  "endpoint list [--json] | enable NAME | rotate NAME --new-secret-file FILE "
	  "[--overlap HOURS]",
	  "webhook endpoints: their state, enabling one, rotating a secret",
	  "list: each endpoint of rollcall.conf: url, rate_per_second, failing since,\n"
	  "disabled (when and why), pending and dead deliveries, and its secrets by\n"
	  "where they are read from and until when they sign (never a secret).\n"
	  "enable: an endpoint disabled after disable_after_hours of failures sends\n"
	  "again; its waiting deliveries are due at once (audited).\n"
	  "rotate: checks the new secret file and prints the secrets = { ... } to put\n"
	  "in the endpoint's table in rollcall.conf: the new secret first, the ones in\n"
	  "use until now + HOURS (default 24, 0 to 168; 0 drops them at once). Nothing\n"
	  "is written; reload with SIGHUP once rollcall.conf says it. Every delivery\n"
	  "carries one signature per secret still valid.\n"
	  "  --json  list: one object per endpoint\n" },
	{ "status", cmd_status, NEED_DB, "status [--json] [--max-age SECONDS] [--recent SECONDS]",
	  "policies, backlog, evaluation lag and deliveries; exit 1 when they need attention",
	  "Reads the database (and the policies directory). Exit status 1, with\n"
	  "what and where, for: a policy file that does not load or is refused; a\n"
	  "*.lua there not named for an organisation; policy calls that failed in\n"
	  "a policy's last batch or within --recent; a policy cut off for its\n"
	  "budget; rows from incoming rejected, or actions with no endpoint,\n"
	  "within --recent; a dead delivery; an endpoint disabled; rows, pupils or deliveries "
	  "waiting\n"
	  "longer than --max-age; a database file that is not the one rollcall run\n"
	  "last opened.\n"
	  "  --max-age SECONDS  how long work may wait (default 300)\n"
	  "  --recent SECONDS   how far back failures count (default 86400, a day)\n"
	  "  --json             one JSON object\n"
	  "With -q, prints only the reasons for attention.\n" },
	{ "rejected", cmd_rejected, NEED_DB,
	  "rejected [--since DATE] [--source FILE] [--limit N] [--json]",
	  "rows refused by import --skip-invalid or taken from incoming, with why",
	  "Newest first, at most --limit; when there are more, standard error says\n"
	  "how many. Each as SOURCE:LINE: reason, then the row as it came (for\n"
	  "incoming, LINE is the row's incoming.id).\n"
	  "  --since DATE   rejected on or after DATE (YYYY-MM-DD, UTC)\n"
	  "  --source FILE  one source: a file name as imported, or incoming\n"
	  "  --limit N      at most N (default 100)\n"
	  "  --json         one object per row\n" },
	{ "reevaluate", cmd_reevaluate, NEED_DB, "reevaluate ORG [--since DATE]",
	  "queue an organisation's pupils to be evaluated again by its policy",
	  "Puts each pupil of ORG's schools (with --since, those with a mark on or\n"
	  "after DATE) in `deferred` for ORG, in transactions of at most 10,000\n"
	  "pupils; rollcall run evaluates them with ORG's policy alone in its next\n"
	  "batches (at once if it is running), or when that policy next loads.\n"
	  "A pupil already waiting is not queued twice.\n" },
	{ "signoff", cmd_signoff, NEED_DB,
	  "signoff list [--org ORG] [--json] | approve ID --by NAME [--note TEXT] | decline ID "
	  "--by NAME --reason TEXT",
	  "legal steps waiting for a named person's decision; approve or decline one",
	  "A policy's legal_step() is a proposal: no step with legal effects is taken\n"
	  "by automated means alone (UK GDPR art. 22). list shows those waiting, the\n"
	  "first to expire first; approve moves the case to that stage and sends\n"
	  "attendance.legal_step with approved_by; decline leaves the case where it\n"
	  "was. The national framework is checked again at approval. Each decision is\n"
	  "audited (rollcall audit). A proposal not decided within signoff_days school\n"
	  "days (default 20) expires.\n"
	  "  --org ORG      list: la:NNN or trust:ID only\n"
	  "  --json         list: one object per proposal (as actions --json)\n"
	  "  --by NAME      who decides (1-200 bytes of text)\n"
	  "  --note TEXT    approve: a note kept with the decision (up to 2000 bytes)\n"
	  "  --reason TEXT  decline: why (required, up to 2000 bytes)\n"
	  "Exit status 2, nothing changed, for an unknown, expired or decided proposal,\n"
	  "bad text, a pupil who has left, or a step the framework refuses.\n" },
	{ "audit", cmd_audit, NEED_DB, "audit [--org ORG] [--since DATE] [--json]",
	  "the audit trail: who decided what, and when",
	  "Oldest first: each sign-off decision and each expiry, each threshold set,\n"
	  "publish, rollback, redelivery and token made or revoked, with who (the person\n"
	  "named, and the local user or api:token N; rollcall for the service), the\n"
	  "organisation, the action, before and after, and the note or reason.\n"
	  "  --org ORG     la:NNN or trust:ID only\n"
	  "  --since DATE  on or after DATE (YYYY-MM-DD, UTC)\n"
	  "  --json        one object per entry\n" },
	{ "export", cmd_export, NEED_DB, "export UPN [--org ORG] [-o FILE]",
	  "everything held about one pupil, as one JSON document (subject access)",
	  "Writes the pupil and their school, marks with their amendments, figures\n"
	  "(as pupil --json), actions with their evidence, params and the text of\n"
	  "the policy version that decided each, deliveries and every attempt,\n"
	  "cases, sign-offs and the audit rows about them, and refused or waiting\n"
	  "rows naming the pupil (docs/schemas/export.json). Another pupil's UPN\n"
	  "found in free text is removed (counted in `redacted`). Audited as\n"
	  "pupil.export. docs/PRIVACY.md says how to answer a subject access request.\n"
	  "  --org ORG  only what la:NNN or trust:ID holds (a pupil of its schools)\n"
	  "  -o FILE    write FILE, mode 0600 (default: standard output)\n" },
	{ "explain", cmd_explain, NEED_DB, "explain ACTION_ID [--json]",
	  "why an action was taken: policy text, params, evidence, sign-off, re-decided",
	  "Shows the kept version of the policy that decided the action (the lines\n"
	  "around the call that recorded it), the parameter values in force, the\n"
	  "evidence, the case and the sign-off, then re-runs that version with those\n"
	  "values over the pupil's stored history up to the action's day (read-only,\n"
	  "as replay does) and says whether it decides the same, and if not why.\n"
	  "Exit status 0 if it decides the same, 1 if not (or it cannot be re-run),\n"
	  "2 for an unknown action.\n"
	  "  --json  one JSON object\n" },
	{ "retention", cmd_retention, NEED_DB, "retention [--dry-run]",
	  "remove what is past its retention period (the service does it daily)",
	  "Removes, in short transactions, marks older than retention.marks_years\n"
	  "(never under 6: School Attendance (Pupil Registration) (England)\n"
	  "Regulations 2024, reg 7) with their amendments and the registers of\n"
	  "academic years wholly past it; actions, cases and deliveries older than\n"
	  "actions_years (never an open case's, nor a proposal waiting); webhook\n"
	  "bodies, responses and errors older than payloads_days (the delivery rows\n"
	  "stay). Each removal is counted in the audit trail (what 'retention').\n"
	  "  --dry-run  count what would go, change nothing\n" },
	{ "erase", cmd_erase, NEED_DB, "erase UPN --reason TEXT",
	  "remove a pupil imported by mistake, and everything about them",
	  "Removes the pupil, their marks, amendments, registers, actions, cases,\n"
	  "deliveries and pending work in one transaction, audited (what\n"
	  "'pupil.erase', the reason, counts; not the UPN). Refused, nothing\n"
	  "changed, while a legal step is open for them: an open case at a legal\n"
	  "stage (a letter or beyond), or a proposal waiting for a decision.\n"
	  "  --reason TEXT  why (required, up to 2000 bytes)\n" },
	{ "token", cmd_token, NEED_DB,
	  "token add --org ORG --role ROLE --name PERSON [--expires DATE] | list [--org ORG] "
	  "[--json] | revoke ID",
	  "the API's tokens: make one (shown once), list them, revoke one",
	  "A token lets one person reach one organisation's records through\n"
	  "rollcall serve, at one role: viewer (read), thresholds (set params),\n"
	  "officer (sign off legal steps, redeliver), author (publish policies),\n"
	  "each including the one before. add prints rc_ and 43 characters once;\n"
	  "only its SHA-256 is kept. add and revoke are audited (rollcall audit).\n"
	  "  --org ORG       la:NNN or trust:ID\n"
	  "  --role ROLE     viewer, thresholds, officer or author\n"
	  "  --name PERSON   whom it is for (1-200 bytes of text); API changes are\n"
	  "                  audited under this name\n"
	  "  --expires DATE  YYYY-MM-DD (it stops working as that day begins, UTC) or\n"
	  "                  YYYY-MM-DDTHH:MM:SSZ; default: it does not expire\n"
	  "  --json          list: one object per token (never the token itself)\n" },
	{ "serve", cmd_serve, NEED_DB, "serve",
	  "the HTTP API for the people of each organisation (docs/API.md)",
	  "Listens where rollcall.conf's serve = { listen = ... } says (default\n"
	  "127.0.0.1:8443), over TLS with tls_cert and tls_key; refuses a listen\n"
	  "address that is not loopback without them. Each request carries\n"
	  "Authorization: Bearer TOKEN (rollcall token) and sees only the token's\n"
	  "organisation. SIGHUP reads the TLS files again; SIGTERM or SIGINT stops\n"
	  "accepting, finishes the requests in flight, exit 0.\n" },
	{ "report", cmd_report, NEED_DB, "report --org ORG [-o FILE.html]",
	  "one organisation's attendance as a self-contained HTML page",
	  "Weekly attendance and absence rates, persistent and severe absence over\n"
	  "the academic year, actions by kind and week, the schools with the most\n"
	  "persistent absence, open cases by stage, the legal steps waiting for a\n"
	  "decision and who decided what in the last four weeks, for the pupils of\n"
	  "the organisation's schools, drawn with Chart.js embedded in the page: it\n"
	  "opens from disk, offline. UPNs appear only for its own pupils.\n"
	  "  --org ORG  la:NNN or trust:ID\n"
	  "  -o FILE    where to write (default report-la-NNN.html, resp.\n"
	  "             report-trust-ID.html; '-' is standard output)\n" },
};

static int help(FILE *out)
{
	fprintf(out, "usage: rollcall [--db PATH] [--config PATH] [-q|-v] SUBCOMMAND [ARGS]\n\n");
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		fprintf(out, "  %-52s %s\n", commands[i].usage, commands[i].summary);
	fprintf(out, "\nThe database is --db, else $ROLLCALL_DB, else the config's database, else "
		     "rollcall.db.\nThe config is --config, else $ROLLCALL_CONFIG, else "
		     "rollcall.conf if it exists.\n"
		     "rollcall help SUBCOMMAND says more; so does rollcall(1). rollcall --version\n"
		     "prints the version.\n");
	return out == stdout ? EXIT_SUCCESS : EXIT_USAGE;
}

/* The version, and what it was built with and runs on: what a bug report
 * needs first. */
static int version(void)
{
	printf("rollcall %s (database schema %d; SQLite %s, %s, libcurl %s)\n", ROLLCALL_VERSION,
	       DB_SCHEMA_VERSION, sqlite3_libversion(), LUA_RELEASE,
	       curl_version_info(CURLVERSION_NOW)->version);
	return EXIT_SUCCESS;
}

static int help_command(const char *name)
{
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		if (!strcmp(commands[i].name, name)) {
			printf("usage: rollcall %s\n\n%s.\n\n%s\nMore in rollcall(1).\n",
			       commands[i].usage, commands[i].summary, commands[i].details);
			return EXIT_SUCCESS;
		}
	error("'%s' is not a rollcall command (see: rollcall help)", name);
	return EXIT_USAGE;
}

int cmd_usage(const struct cli *cli)
{
	fprintf(stderr, "usage: rollcall %s\n", cli->usage);
	return EXIT_USAGE;
}

int cmd_flag(char **argv, int *i, const char *name)
{
	if (strcmp(argv[*i], name) != 0)
		return 0;
	++*i;
	return 1;
}

void cmd_policy_error(const char *path, const char *err, int kept)
{
	(void)path;
	(void)kept;
	/* a Lua error quotes the file's own bytes, and its name is any bytes */
	char *safe = text_safe(err, strlen(err), "\n\t");
	fprintf(stderr, "%s\n", safe);
	free(safe);
}

int cmd_option(int argc, char **argv, int *i, const char *name, const char **value)
{
	if (!cmd_flag(argv, i, name))
		return 0;
	if (*i >= argc || (argv[*i][0] == '-' && argv[*i][1] == '-')) {
		error("%s needs a value", name);
		return -1;
	}
	*value = argv[(*i)++];
	return 1;
}

int main(int argc, char **argv)
{
	struct cli cli = { 0 };
	const char *config = getenv("ROLLCALL_CONFIG");
	int i = 1;

	cli.db_path = getenv("ROLLCALL_DB");
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "--db") == 0 || strcmp(argv[i], "--config") == 0) {
			if (i + 1 == argc) {
				error("%s needs a path", argv[i]);
				return EXIT_USAGE;
			}
			*(argv[i][2] == 'd' ? &cli.db_path : &config) = argv[i + 1];
			i++;
		} else if (strcmp(argv[i], "-q") == 0)
			cli.verbosity = -1;
		else if (strcmp(argv[i], "-v") == 0)
			cli.verbosity = 1;
		else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
			return help(stdout);
		else if (strcmp(argv[i], "--version") == 0)
			return version();
		else {
			error("unknown option %s", argv[i]);
			return help(stderr);
		}
	}
	log_threshold = cli.verbosity < 0 ? LOG_WARN : cli.verbosity > 0 ? LOG_DEBUG : LOG_INFO;
	if (i == argc)
		return help(stderr);
	if (strcmp(argv[i], "help") == 0)
		return i + 1 < argc ? help_command(argv[i + 1]) : help(stdout);

	for (size_t c = 0; c < sizeof commands / sizeof commands[0]; c++) {
		const struct command *cmd = &commands[c];
		if (strcmp(argv[i], cmd->name) != 0)
			continue;
		cli.usage = cmd->usage;
		/* An explicit config must exist; the default one is optional. */
		if (config_load(&cli.cfg, config && *config ? config : "rollcall.conf",
				!(config && *config)) < 0)
			return EXIT_USAGE;
		if (!cli.db_path || !*cli.db_path)
			cli.db_path = cli.cfg.database;
		if (cmd->flags & NEED_DB) {
			if (db_open(&cli.db, cli.db_path, DB_EXISTING) < 0 ||
			    db_check_version(&cli.db) < 0) {
				db_close(&cli.db);
				config_free(&cli.cfg);
				return EXIT_FAILURE;
			}
		}
		int status = cmd->run(&cli, argc - i, argv + i);
		if (cli.db.h)
			db_close(&cli.db);
		config_free(&cli.cfg);
		return status;
	}
	error("'%s' is not a rollcall command (see: rollcall help)", argv[i]);
	return EXIT_USAGE;
}
