/*
 * file.c — the one reader of operator-supplied files (file.h).
 *
 * The file is opened without blocking and judged by fstat on that same
 * descriptor before a byte is read: fopen on a FIFO waits for a writer that
 * may never come, and a check by path followed by an open by path could
 * look at one file and read another.
 */
#include "file.h"

#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *kind_of(mode_t mode)
{
	if (S_ISDIR(mode))
		return "a directory";
	if (S_ISFIFO(mode))
		return "a FIFO";
	if (S_ISSOCK(mode))
		return "a socket";
	if (S_ISCHR(mode) || S_ISBLK(mode))
		return "a device";
	return "not a file";
}

char *file_read(const char *path, size_t limit, size_t *len, struct stat *st, char *err,
		size_t errlen)
{
	struct stat own;
	if (!st)
		st = &own;
	/* O_NONBLOCK: opening a FIFO for reading returns at once instead of
	 * waiting for a writer; on a regular file it changes nothing. */
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd < 0 || fstat(fd, st) != 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	if (!S_ISREG(st->st_mode)) {
		snprintf(err, errlen, "%s: not a regular file (%s)", path, kind_of(st->st_mode));
		close(fd);
		return NULL;
	}
	if (st->st_size < 0 || (size_t)st->st_size > limit) {
		snprintf(err, errlen, "%s: file too large (%lld bytes, at most %zu)", path,
			 (long long)st->st_size, limit);
		close(fd);
		return NULL;
	}
	/* Up to the size fstat gave: a file that grows meanwhile is read as it
	 * was, one that shrinks is read to its new end. */
	size_t size = (size_t)st->st_size, n = 0;
	char *text = xmalloc(size + 1);
	while (n < size) {
		ssize_t got = read(fd, text + n, size - n);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			close(fd);
			free(text);
			return NULL;
		}
		if (got == 0)
			break;
		n += (size_t)got;
	}
	close(fd);
	text[n] = '\0';
	*len = n;
	return text;
}
