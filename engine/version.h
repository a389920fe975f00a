/*
 * version.h — rollcall's version, in one place: `rollcall --version`
 * prints it. Bump it with every release; the database schema has its own
 * number (DB_SCHEMA_VERSION, db.h), which moves only when the tables do.
 */
#ifndef ROLLCALL_VERSION_H
#define ROLLCALL_VERSION_H

#define ROLLCALL_VERSION "0.9.0"

#endif
