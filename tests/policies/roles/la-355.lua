-- One action for each endpoint role, for each pupil at the national penalty
-- threshold (in tests/data, J355400120001 alone): the webhooks that
-- tests/test_deliver.c sends, whatever the bundled policies decide. The
-- letter is declared decided at once (no sign-off), so that it goes out as
-- attendance.legal_step in the same run: the tests here are about delivery
-- (tests/test_signoff.c is about a step that waits for a person).
policy {
  org  = "la:355",
  name = "One action a role",
  endpoints = { alert = "ewo-team", referral = "mentors", legal = "legal-team" },
  signoff = { letter = false },
}

local national = require "national"

function on_pupil(p)
  if national.penalty_threshold_met(p) then
    alert(p, "severe_absence", { severity = "high" })
    refer_mentor(p, { message = "persistent absence this academic year" })
    legal_step(p, "letter", { reason = "10+ unauthorised sessions in 10 school weeks" })
  end
end
