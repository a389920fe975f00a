# tests/oracle.awk — an independent reading of the example policies' rules,
# straight from the CSV files, to check `rollcall run` against.
#
#   awk -f tests/oracle.awk schools.csv pupils.csv marks.csv amendments.csv
#
# Prints "ORG ACTION KIND UPN" for the actions whose rule needs no history of
# earlier actions (the data is one evaluation: the first for every pupil):
#   la:355  severe absence (>= 50% this year)       alert severe_absence
#   la:355  persistent absence (>= 10% this year)   referral mentor
#   la:355  >= 10 unauthorised sessions (G N O U)   legal_step letter
#   la:846  >= 10 sessions of G (holiday)           legal_step penalty_notice
#   trust:TR00001  >= 10% absence this year, with >= 20 possible sessions in
#           the last 6 school weeks (from 2025-09-15 in this data)
#                                                   alert persistent_absence
# The data spans one half term (under 10 school weeks), so "this year" and
# "the last 10 school weeks" are all of it.
BEGIN {
	FS = ","
	split("/ \\ L K V P W B", a, " "); for (i in a) attended[a[i]] = 1
	split("C C1 C2 E I J1 M R S T", a, " "); for (i in a) authorised[a[i]] = 1
	split("G N O U", a, " "); for (i in a) unauthorised[a[i]] = 1
}
FNR == 1 { file++; next }
file == 1 { la[$1] = $(NF - 2); trust[$1] = $(NF - 1); next }   # names hold one comma
file == 2 { school[$1] = $2; next }
{ code[$1 SUBSEP $3 SUBSEP $4] = $5 }                         # later files amend
END {
	for (k in code) {
		split(k, f, SUBSEP)
		upn = f[1]; c = code[k]
		if (!(c in attended) && !(c in authorised) && !(c in unauthorised))
			continue
		possible[upn]++
		if (f[2] >= "2025-09-15")
			recent[upn]++
		if (c in authorised || c in unauthorised)
			absent[upn]++
		if (c in unauthorised)
			unauth[upn]++
		if (c == "G")
			holiday[upn]++
	}
	for (upn in possible) {
		s = school[upn]
		rate = absent[upn] / possible[upn]
		if (la[s] == "355") {
			if (rate >= 0.5) print "la:355 alert severe_absence " upn
			if (rate >= 0.1) print "la:355 referral mentor " upn
			if (unauth[upn] >= 10) print "la:355 legal_step letter " upn
		}
		if (la[s] == "846" && holiday[upn] >= 10)
			print "la:846 legal_step penalty_notice " upn
		if (trust[s] == "TR00001" && recent[upn] >= 20 && rate >= 0.1)
			print "trust:TR00001 alert persistent_absence " upn
	}
}
