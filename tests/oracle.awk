# tests/oracle.awk — an independent reading of the example policies' rules,
# straight from the CSV files, to check `rollcall run` against. It shares no
# code with rollcall: figures, windows and streaks are recomputed here from
# docs/POLICIES.md, docs/FIGURES.md and docs/DATA.md, and the rules are
# transcribed by hand from policies/la-355.lua, policies/la-846.lua,
# policies/trust-TR00001.lua and scripts/national.lua (default params).
#
#   awk -f tests/oracle.awk FILE.csv...
#
# Each file's header row says what it holds (schools, pupils or marks, columns
# in any order, RFC 4180 quoting on one line); a later mark for the same
# (upn, date, session) amends an earlier one, as `rollcall import` does. Pass
# every file the database was loaded from, in import order. tests/test_run.c
# feeds it tests/data, examples/data and a few edge pupils of its own (runs of
# unauthorised days across closures and half term, weeks of only Y4, a window
# reaching into the previous academic year), since the example data alone
# never reaches continuous_absence or missing_education.
#
# Prints, for ONE evaluation of every pupil with marks (the first: no earlier
# action, case or penalty notice exists), one line per action recorded:
#   DATE ORG ACTION KIND-OR-STEP UPN SEVERITY
# as `rollcall actions` prints columns 2-7 (DATE = today() = the date of the
# pupil's latest mark; a referral's kind is "mentor").
#
# Figures (docs/POLICIES.md, docs/FIGURES.md):
#   possible = present + aea + authorised + unauthorised (not_counted is not
#   a possible session). rate = (present + aea) / possible; absence_rate =
#   (authorised + unauthorised) / possible. Thresholds are compared in integer
#   arithmetic (rate < 0.90 as 10 * attended < 9 * possible, ...), which is the
#   rule as written; for counts this small it equals the double comparison.
#   academic_year: from the 1 September on or before the latest mark.
#   school_weeks = N: the last N Monday-Sunday weeks, up to the latest mark,
#     holding at least one possible session of the pupil; the window runs
#     from the Monday of the earliest of them (all history if fewer).
#     A week of only # / Y codes, or with no marks, is skipped.
#   consecutive_unauthorised_days: counting back from the latest mark's day,
#     days on which every possible session was G, N, O or U; a day with no
#     possible session (weekend, closure `#`, no marks) is skipped.
#
# The rules, per organisation (all of them, every kind and step):
#   la:355 (pupils of schools with la_code 355), la-355.lua:
#     recent = school_weeks 6
#     recent.possible >= 20 and recent.rate < 0.90  alert low_attendance  medium
#     year possible >= 20 and absence_rate >= 0.50  alert severe_absence  high
#     year possible >= 20 and absence_rate >= 0.10
#       and recent.rate < 0.95 (recovered_rate)     referral mentor       medium
#     consecutive_unauthorised_days >= 10           alert continuous_absence urgent
#     consecutive_unauthorised_days >= 20           alert missing_education urgent
#     >= 10 unauthorised (G N O U) in school_weeks 10  legal_step letter  medium
#   la:846 (la_code 846), la-846.lua:
#     >= 10 G in school_weeks 10                    legal_step penalty_notice medium
#     else >= 10 unauthorised in school_weeks 10    legal_step attendance_contract medium
#     year I sessions / 2 >= 15 (I >= 30)           alert illness_15_days medium
#     consecutive_unauthorised_days >= 10           alert continuous_absence urgent
#   trust:TR00001 (schools with trust_id TR00001), trust-TR00001.lua:
#     only if school_weeks 6 has >= 20 possible sessions:
#     recent.rate < 0.90                            alert low_attendance  medium
#     year absence_rate >= 0.10                     alert persistent_absence high
#   No other organisation has a policy (tests/data's TR00092 has none).
#
# Dependencies on actions and cases, and why they resolve as above in a first
# evaluation:
#   - Salford's letter needs stage nil or "referral" and days_since_last_step
#     nil or >= step_gap_days. A referral recorded earlier in the same call
#     opens a case at stage "referral" with referral_open (engine/actions.c,
#     actions_record: a referral with no case inserts a case whose stage is
#     "referral"); la-355.lua reads `case` once, before it, so it sees nil,
#     and days_since_last_step reads p.case afresh but skips "referral" steps,
#     giving nil. Either way the rung is the letter. The same referral test
#     ("not (case and case.referral_open)") reads the same nil case.
#   - Salford's close_case (a case_closed action) needs the `case` it read
#     first, nil in a first evaluation, so it never closes one here.
#   - Brighton's case is nil (its policy records no referral or step before
#     reading it), so the threshold gives attendance_contract, not
#     notice_to_improve. Its penalty_notice passes the national framework:
#     support_inappropriate = true, and no notice was issued before.
#   - Repeats (cooldown_days): each rule records a distinct (org, pupil,
#     action, kind) once per call, and nothing was recorded before, so none
#     is suppressed.
# A second evaluation would need the recorded history (cases, step dates,
# cooldowns); this oracle does not model it.

function field(name) { return (name in col) ? f[col[name]] : "" }

# Split line s into f[1..n] (RFC 4180 quoting, no embedded newlines).
function csv(s,    n, i, c, q, v) {
	if (index(s, "\"") == 0)
		return split(s, f, ",")
	n = 0; v = ""; q = 0
	for (i = 1; i <= length(s); i++) {
		c = substr(s, i, 1)
		if (q) {
			if (c == "\"" && substr(s, i + 1, 1) == "\"") { v = v c; i++ }
			else if (c == "\"") q = 0
			else v = v c
		} else if (c == "\"") q = 1
		else if (c == ",") { f[++n] = v; v = "" }
		else v = v c
	}
	f[++n] = v
	return n
}

# Days since 1970-01-01 of "YYYY-MM-DD" (proleptic Gregorian).
function daynum(iso,    y, m, d, era, yoe, doy) {
	y = substr(iso, 1, 4) + 0; m = substr(iso, 6, 2) + 0; d = substr(iso, 9, 2) + 0
	if (m <= 2) y--
	era = int(y / 400); yoe = y - era * 400
	doy = int((153 * (m > 2 ? m - 3 : m + 9) + 2) / 5) + d - 1
	return era * 146097 + yoe * 365 + int(yoe / 4) - int(yoe / 100) + doy - 719468
}

# Monday-to-Sunday week of day number n (1970-01-01 was a Thursday).
function week(n) { return int((n + 3) / 7) }

# Figures over days [from, to] of pupil u into the global w[].
function window(u, from, to,    n, s, c, k) {
	split("possible attended absent unauthorised G I", k, " ")
	for (s in k) w[k[s]] = 0
	for (n = from; n <= to; n++)
		for (s = 1; s <= 2; s++) {
			if (!((u, n, s) in mark)) continue
			c = mark[u, n, s]
			if (!(c in cat) || cat[c] == "not_counted") continue
			w["possible"]++
			if (cat[c] == "present" || cat[c] == "aea") w["attended"]++
			else w["absent"]++
			if (cat[c] == "unauthorised") w["unauthorised"]++
			if (c == "G" || c == "I") w[c]++
		}
}

# First day of the last N school weeks of pupil u up to its latest mark.
function weeks_from(u, N,    n, s, got, lastwk, start, c) {
	got = 0; lastwk = ""; start = first[u]
	for (n = latest[u]; n >= first[u]; n--)
		for (s = 1; s <= 2; s++) {
			if (!((u, n, s) in mark)) continue
			c = mark[u, n, s]
			if (!(c in cat) || cat[c] == "not_counted" || week(n) == lastwk) continue
			lastwk = week(n)
			if (++got == N) return lastwk * 7 - 3   # that week's Monday
		}
	return start
}

# School days in a row, back from the latest mark, whose every possible
# session was an unauthorised absence.
function unauthorised_days(u,    n, s, c, pos, un, run) {
	run = 0
	for (n = latest[u]; n >= first[u]; n--) {
		pos = un = 0
		for (s = 1; s <= 2; s++) {
			if (!((u, n, s) in mark)) continue
			c = mark[u, n, s]
			if (!(c in cat) || cat[c] == "not_counted") continue
			pos++
			if (cat[c] == "unauthorised") un++
		}
		if (pos == 0) continue
		if (un < pos) break
		run++
	}
	return run
}

function out(date, org, action, kind, u, severity) {
	print date, org, action, kind, u, severity
}

BEGIN {
	# docs/DATA.md, "Attendance codes" (with the pre-2024 codes)
	split("/ \\ L", a, " "); for (i in a) cat[a[i]] = "present"
	split("K V P W B J", a, " "); for (i in a) cat[a[i]] = "aea"
	split("C C1 C2 E I J1 M R S T H F", a, " "); for (i in a) cat[a[i]] = "authorised"
	split("G N O U", a, " "); for (i in a) cat[a[i]] = "unauthorised"
	split("Q Y Y1 Y2 Y3 Y4 Y5 Y6 Y7 X Z # D", a, " "); for (i in a) cat[a[i]] = "not_counted"
}

{ sub(/\r$/, "") }

FNR == 1 {
	sub(/^\357\273\277/, "")
	n = csv($0)
	for (k in col) delete col[k]
	for (i = 1; i <= n; i++) col[f[i]] = i
	kind = ("code" in col) ? "marks" : ("year_group" in col) ? "pupils" : \
	       ("la_code" in col) ? "schools" : ""
	if (kind == "") { print FILENAME ": not a schools, pupils or marks file" > "/dev/stderr"; bad = 1; exit 2 }
	next
}

/^$/ { next }

{ csv($0) }

kind == "schools" { la[field("urn")] = field("la_code"); trust[field("urn")] = field("trust_id"); next }
kind == "pupils"  { school[field("upn")] = field("urn"); next }
kind == "marks" {
	u = field("upn"); n = daynum(field("date")); s = field("session") == "PM" ? 2 : 1
	mark[u, n, s] = field("code")
	if (!(u in latest) || n > latest[u]) { latest[u] = n; date[u] = field("date") }
	if (!(u in first) || n < first[u]) first[u] = n
}

END {
	if (bad) exit 2
	for (u in latest) {
		if (!(u in school)) continue
		urn = school[u]; L = latest[u]; today = date[u]

		y = substr(today, 1, 4) + 0
		if (substr(today, 6, 2) + 0 < 9) y--
		window(u, daynum(y "-09-01"), L)
		ypos = w["possible"]; yabs = w["absent"]; yill = w["I"]

		window(u, weeks_from(u, 6), L)
		rpos = w["possible"]; ratt = w["attended"]

		window(u, weeks_from(u, 10), L)
		pun = w["unauthorised"]; pg = w["G"]

		cud = unauthorised_days(u)

		low = rpos >= 20 && 10 * ratt < 9 * rpos
		persistent = ypos >= 20 && 10 * yabs >= ypos
		severe = ypos >= 20 && 2 * yabs >= ypos
		penalty = pun >= 10

		if (la[urn] == "355") {
			org = "la:355"
			if (low) out(today, org, "alert", "low_attendance", u, "medium")
			if (severe) out(today, org, "alert", "severe_absence", u, "high")
			if (persistent && (rpos == 0 || 100 * ratt < 95 * rpos))
				out(today, org, "referral", "mentor", u, "medium")
			if (cud >= 10) out(today, org, "alert", "continuous_absence", u, "urgent")
			if (cud >= 20) out(today, org, "alert", "missing_education", u, "urgent")
			if (penalty) out(today, org, "legal_step", "letter", u, "medium")
		}
		if (la[urn] == "846") {
			org = "la:846"
			if (pg >= 10) out(today, org, "legal_step", "penalty_notice", u, "medium")
			else if (penalty) out(today, org, "legal_step", "attendance_contract", u, "medium")
			if (yill >= 30) out(today, org, "alert", "illness_15_days", u, "medium")
			if (cud >= 10) out(today, org, "alert", "continuous_absence", u, "urgent")
		}
		if (trust[urn] == "TR00001" && rpos >= 20) {
			org = "trust:TR00001"
			if (10 * ratt < 9 * rpos) out(today, org, "alert", "low_attendance", u, "medium")
			if (10 * yabs >= ypos) out(today, org, "alert", "persistent_absence", u, "high")
		}
	}
}
