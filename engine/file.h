/*
 * file.h — reading a whole small file that the operator supplies: the
 * configuration, a secret, a policy, a required module. The one reader for
 * all of them, so that each refuses the same things: anything that is not a
 * regular file (a FIFO or a device would block start-up for ever, or never
 * end) and anything over its size limit.
 */
#ifndef ROLLCALL_FILE_H
#define ROLLCALL_FILE_H

#include <stddef.h>
#include <sys/stat.h>

/* Read the regular file at path, of at most limit bytes, into a new
 * NUL-terminated buffer (*len bytes before the NUL). st, if not NULL,
 * receives the file's fstat, taken on the descriptor that was read (so a
 * mode checked from it is the mode of the file read). NULL with err
 * ("PATH: reason") on failure. */
char *file_read(const char *path, size_t limit, size_t *len, struct stat *st, char *err,
		size_t errlen);

#endif
