/*
 * cmd_report.c — `rollcall report --org ORG [-o FILE.html]`: one
 * organisation's attendance as a single self-contained HTML page
 * (report.c), written to a file only its owner may read.
 */
#include "cmd.h"
#include "report.h"
#include "upn.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int org_valid(const char *org)
{
	if (!strncmp(org, "la:", 3))
		return la_code_valid(org + 3, (int)strlen(org + 3));
	if (!strncmp(org, "trust:", 6))
		return trust_id_valid(org + 6, (int)strlen(org + 6));
	return 0;
}

/* The page lists pupils: the file is the owner's alone (0600), also when
 * it replaces one that was readable by others. */
static FILE *open_private(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return NULL;
	FILE *f = fchmod(fd, 0600) == 0 ? fdopen(fd, "w") : NULL;
	if (!f)
		close(fd);
	return f;
}

int cmd_report(struct cli *cli, int argc, char **argv)
{
	const char *org = NULL, *path = NULL;
	for (int i = 1, got; i < argc;) {
		if ((got = cmd_option(argc, argv, &i, "--org", &org)) < 0)
			return cmd_usage(cli);
		if (got)
			continue;
		if ((got = cmd_option(argc, argv, &i, "-o", &path)) < 0 || !got)
			return cmd_usage(cli);
	}
	if (!org)
		return cmd_usage(cli);
	if (!org_valid(org)) {
		error("--org %s: expected la:NNN (an LA code) or trust:ID", org);
		return EXIT_USAGE;
	}
	char fallback[64];
	if (!path) { /* report-la-355.html: no ':' in file names (Windows shares) */
		snprintf(fallback, sizeof fallback, "report-%s.html", org);
		*strchr(fallback, ':') = '-';
		path = fallback;
	}
	/* the page is made in memory first: no file is left half-written, and
	 * an organisation with no school leaves none at all */
	char *page = NULL;
	size_t size = 0;
	FILE *mem = open_memstream(&page, &size);
	if (!mem) {
		error("report: %s", strerror(errno));
		return EXIT_FAILURE;
	}
	int rc = report_page(&cli->db, org, mem);
	fclose(mem);
	if (rc) {
		free(page);
		return rc > 0 ? EXIT_USAGE : EXIT_FAILURE;
	}
	int status = EXIT_FAILURE, to_stdout = !strcmp(path, "-");
	FILE *out = to_stdout ? stdout : open_private(path);
	if (!out) {
		error("%s: %s", path, strerror(errno));
		goto out;
	}
	fwrite(page, 1, size, out);
	if (ferror(out) | (to_stdout ? fflush(out) : fclose(out))) {
		error("%s: write failed: %s", to_stdout ? "standard output" : path,
		      strerror(errno));
		if (!to_stdout)
			remove(path);
		goto out;
	}
	if (!to_stdout && cli->verbosity >= 0)
		fprintf(stderr, "wrote %s\n", path);
	status = EXIT_SUCCESS;
out:
	free(page);
	return status;
}
