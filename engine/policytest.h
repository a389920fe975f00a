/*
 * policytest.h — `rollcall test`: policy tests written as data.
 *
 * A test file (policies/tests/NAME.lua, docs/POLICIES.md "Testing a policy")
 * is read like rollcall.conf: Lua syntax run in an empty state, every key
 * checked, errors as FILE:LINE. It names the policy it tests, schools,
 * pupils with their marks as one short string a pupil, the params, when to
 * evaluate, and the actions expected and those that must not happen. Each
 * case runs in a fresh temporary database through rollcall's own code: the
 * schools and pupils validated and stored as `import` stores them, the
 * params as `rollcall params` stores them, and the marks fed one session's
 * register at a time into `incoming`, each followed by the engine's batch
 * (engine_batch), exactly as the live service takes them; nothing is
 * delivered. Then what was recorded is matched against what was expected.
 *
 * A run also notes which lines of each policy that call an action
 * (alert, refer_mentor, legal_step, close_case) the tests reached.
 */
#ifndef ROLLCALL_POLICYTEST_H
#define ROLLCALL_POLICYTEST_H

#include "config.h"

#include <stdio.h>

struct ptest;

/* A run of test files, with the policies' limits and scripts from cfg
 * (which must outlive it). verbosity -1 leaves the ok lines out; 1 lists
 * every action a failing case took, not the first few. Its temporary
 * databases go in a directory under $TMPDIR (else /tmp), removed by
 * ptest_free. NULL (reported) if that directory cannot be made. */
struct ptest *ptest_new(const struct config *cfg, FILE *out, int verbosity);

/* Read the test file at path and run each of its cases: "ok FILE: case
 * NAME" or "FAIL FILE:LINE: case NAME: what was expected, and what
 * happened" on out. Returns 0 if every case passed, 1 if one failed (or
 * the policy does not load), 2 if the test file is bad (each error
 * reported on stderr as FILE:LINE; no case of it runs), -1 on a runtime
 * failure (a database error, reported). */
int ptest_file(struct ptest *t, const char *path);

/* The summary (cases passed and failed, files that could not be read) and,
 * for each policy tested, how many of its action lines the tests reached
 * and which they did not. Returns the run's exit status: 2 if a test file
 * was bad, else 1 if a case failed or something could not run, else 0. */
int ptest_finish(struct ptest *t);

void ptest_free(struct ptest *t);

#endif
