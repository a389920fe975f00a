#!/bin/sh
# tests/data/migrate/make.sh — remake the databases tests/test_migrate.c
# migrates: one for each schema version rollcall has shipped (and for the
# forms versions 2 and 3 first had), each made by the rollcall of that
# version, built from this repository's history, and written out as SQL
# (sqlite3's .dump, the schema text exactly as that version created it,
# then PRAGMA user_version).
#
# What each old rollcall does to fill it: init; import the schools, the
# pupils and J's and Y's marks of tests/data, one amendment (mark_history)
# and one invalid row (rejected, with --skip-invalid); from version 2, run
# --once twice with a policy that alerts (a pending delivery), sends a
# letter and refers (no endpoint: no_endpoint) and closes open cases, with
# a param set in between and one more day of marks; rows left in incoming;
# from version 4, a pupil in deferred (the engine puts one there when a
# policy is cut off). Every table must end up with rows (but meta in
# version 1, which kept nothing there).
#
# From version 7, the letter it proposed is approved (audit has a row).
#
# Run from the top directory of a clone with its history:
#   sh tests/data/migrate/make.sh [FILE...]   (FILE: remake only those, e.g. v7.sql)
# It needs what the build needs, sqlite3, and report/node_modules for the
# versions that embed the report's Chart.js (copied from this tree).
set -e
top=$(pwd)
out=$top/tests/data/migrate
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

policy="policy { org = 'la:355', name = 'Old', endpoints = { alert = 'hook' },
  params = { gap = { default = 28, min = 7, max = 90, doc = 'days between steps' } } }
function on_pupil(p)
  alert(p, 'seen', { severity = 'low', cooldown_days = 0 })
  if p.case then
    close_case(p, 'attendance reviewed')
  else
    legal_step(p, 'letter', { reason = 'unauthorised sessions' })
    refer_mentor(p, { message = 'persistent absence' })
  end
end
"

# version, the commit whose rollcall makes it, the file
while read -r version commit file; do
	if [ $# -gt 0 ]; then
		case " $* " in *" $file "*) ;; *) continue ;; esac
	fi
	src=$work/src-$commit
	mkdir -p "$src"
	git archive "$commit" | tar -x -C "$src"
	if [ -d "$src/report" ] && [ -d report/node_modules ]; then
		cp -r report/node_modules "$src/report/"
	fi
	make -C "$src" -j2 build/rollcall >"$work/build.log" 2>&1 ||
		{ cat "$work/build.log"; exit 1; }
	d=$work/db-$file
	mkdir -p "$d/policies"
	cd "$d"
	rc="$src/build/rollcall -q --config rollcall.conf"
	[ "$version" -ge 2 ] || rc="$src/build/rollcall -q --db old.db" # no config yet
	cat >rollcall.conf <<EOF
database = 'old.db'
policies = 'policies'
scripts = '$src/scripts'
endpoints = { hook = { url = 'http://127.0.0.1:9/hook', secret_env = 'HOOK_SECRET' } }
EOF
	printf '%s' "$policy" >policies/la-355.lua
	grep -v -e '^H' -e '^V' "$top/tests/data/marks.csv" >jy.csv
	printf 'upn,urn,date,session,code,minutes_late\n%s\n' \
		'J355400120001,135001,2025-09-12,AM,O,' >amend.csv
	printf 'upn,urn,date,session,code,minutes_late\n%s\n' \
		'J355400120001,135001,2025-09-16,AM,Q9,' >bad.csv
	printf 'upn,urn,date,session,code,minutes_late\n%s\n%s\n%s\n' \
		'J355400120001,135001,2025-09-15,AM,O,' 'Y355400120002,135001,2025-09-15,AM,/,' \
		'H355210120003,105210,2025-09-15,AM,N,' >day.csv
	$rc init
	$rc import "$top/tests/data/schools.csv" "$top/tests/data/pupils.csv" jy.csv amend.csv
	$rc import --skip-invalid bad.csv || true
	if [ "$version" -ge 2 ]; then
		$rc run --once --no-deliver
		if [ "$version" -ge 7 ]; then
			id=$(sqlite3 old.db "SELECT min(id) FROM actions WHERE state = 'proposed'")
			$rc signoff approve "$id" --by "A. Officer" --note "no leave was asked for"
		fi
		$rc params la:355 gap=14 >/dev/null
		$rc import day.csv
		$rc run --once --no-deliver
	fi
	sqlite3 old.db "INSERT INTO incoming(upn, urn, date, session, code) VALUES
		('J355400120001', 135001, '2025-09-16', 'AM', '/'),
		('Y355400120002', 135001, '2025-09-16', 'AM', 'O'),
		('H355210120003', 105210, '2025-09-16', 'AM', 'N');"
	if [ "$version" -ge 4 ]; then
		sqlite3 old.db "INSERT INTO deferred(org, pupil) VALUES ('la:355', 3);"
	fi
	for t in $(sqlite3 old.db "SELECT name FROM sqlite_master WHERE type = 'table'"); do
		# version 1 kept nothing in meta (it had no evaluation cursor yet)
		[ "$version.$t" = 1.meta ] && continue
		if [ "$(sqlite3 old.db "SELECT count(*) FROM \"$t\"")" = 0 ]; then
			echo "$file: table $t has no rows" >&2
			exit 1
		fi
	done
	[ "$(sqlite3 old.db 'PRAGMA user_version')" = "$version" ]
	{
		echo "-- A database made by rollcall at schema version $version (commit $commit),"
		echo "-- by tests/data/migrate/make.sh."
		sqlite3 old.db .dump
		echo "PRAGMA user_version = $version;"
	} >"$out/$file"
	cd "$top"
	echo "$file: version $version, from $commit"
done <<EOF
1 b1e87fcd379d249380bbc0c86732a0a7e49af6ea v1.sql
2 8bf31f79e5e40521685bd58902b64bd8dc90ccc1 v2-first.sql
2 0b32385477a6e9c2b2a0987a1779fa09a321289e v2.sql
3 8b387c59ff7feaae5458dac95eabdbcc8f27db36 v3-first.sql
3 07b01e866ed1e190ba8b4911e157dcd5739f1a19 v3-second.sql
3 68025978b419d2e3963934d47908a545f682b2f0 v3.sql
4 54bdfd2716ec508a247ac82b8e7e98417bbbacf7 v4.sql
5 73ce8dd2296cb613b9659249b492401a95361eb1 v5.sql
6 007587310d0ea1b281566c3c7f9f9ebd9ecdd684 v6.sql
7 8c0342d126e56f70606ed0934210c78058092986 v7.sql
EOF
