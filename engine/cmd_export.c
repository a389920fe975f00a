/*
 * cmd_export.c — `rollcall export UPN [--org ORG] [-o FILE]`: everything
 * rollcall holds about one pupil as one JSON document (export.h), for a
 * subject access request; with --org, only what that organisation holds.
 *
 * An export is a disclosure, so it is audited (what 'pupil.export', the
 * UPN, who ran it) before the document is let out: written to FILE (mode
 * 0600 from its first byte, through a temporary file renamed into place,
 * so a reader never sees half a document) or to standard output.
 */
#include "cmd.h"
#include "audit.h"
#include "export.h"
#include "policy.h"
#include "upn.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* text into a new file beside path, mode 0600; its name in tmp. */
static int write_temp(const char *path, const char *text, char *tmp, size_t size)
{
	snprintf(tmp, size, "%s.XXXXXX", path);
	mode_t old = umask(077);
	int fd = mkstemp(tmp); /* 0600 */
	umask(old);
	if (fd < 0) {
		error("%s: cannot create: %s", tmp, strerror(errno));
		return -1;
	}
	FILE *f = fdopen(fd, "w");
	int ok = f && fputs(text, f) >= 0 && fputc('\n', f) != EOF && fflush(f) == 0 &&
		 fsync(fd) == 0;
	int err = errno;
	if (f ? fclose(f) != 0 : close(fd) != 0)
		ok = 0;
	if (!ok) {
		error("%s: cannot write: %s", tmp, strerror(err));
		unlink(tmp);
		return -1;
	}
	return 0;
}

int cmd_export(struct cli *cli, int argc, char **argv)
{
	const char *upn = NULL, *org = NULL, *path = NULL;
	for (int i = 1, got; i < argc;) {
		if ((got = cmd_option(argc, argv, &i, "-o", &path)) != 0 ||
		    (got = cmd_option(argc, argv, &i, "--org", &org)) != 0) {
			if (got < 0)
				return cmd_usage(cli);
		} else if (argv[i][0] == '-' || upn)
			return cmd_usage(cli);
		else
			upn = argv[i++];
	}
	if (!upn)
		return cmd_usage(cli);
	if (!upn_valid(upn, (int)strlen(upn))) {
		char *safe = text_safe(upn, strlen(upn), NULL);
		error("\"%s\" is not a valid UPN (13 characters with a matching check letter)",
		      safe);
		free(safe);
		return EXIT_USAGE;
	}
	if (org && !policy_org_valid(org)) {
		char *safe = text_safe(org, strlen(org), NULL);
		error("--org %s: expected la:NNN or trust:ID", safe);
		free(safe);
		return EXIT_USAGE;
	}
	json_t *doc;
	int rc = export_pupil(&cli->db, upn, org, &doc);
	if (rc == EXPORT_NOT_FOUND) {
		if (org)
			error("no pupil with upn %s at a school of %s", upn, org);
		else
			error("no pupil with upn %s", upn);
		return EXIT_USAGE;
	}
	if (rc < 0)
		return EXIT_FAILURE;
	char *text = json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS);
	json_decref(doc);
	if (!text) {
		error("out of memory");
		return EXIT_FAILURE;
	}
	char tmp[4096 + 16], via[300];
	int status = EXIT_FAILURE;
	if (path && strlen(path) > 4096) {
		error("-o: the path is too long");
		status = EXIT_USAGE;
		goto out;
	}
	if (path && write_temp(path, text, tmp, sizeof tmp) < 0)
		goto out;
	audit_cli_via(via, sizeof via);
	if (export_audit(&cli->db, upn, org, via + 4, via) < 0) {
		error("the export was not audited, so it is not given out");
		if (path)
			unlink(tmp);
		goto out;
	}
	if (path && rename(tmp, path) != 0) {
		error("%s: cannot write: %s", path, strerror(errno));
		unlink(tmp);
		goto out;
	}
	if (!path && (puts(text) == EOF || fflush(stdout) != 0)) {
		error("standard output: cannot write: %s", strerror(errno));
		goto out;
	}
	status = EXIT_SUCCESS;
out:
	free(text);
	return status;
}
