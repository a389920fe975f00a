-- Term-time holiday straight to a penalty notice: support_inappropriate =
-- true still skips the Notice to Improve, and false is accepted too.
policy { org = "trust:TR00092", name = "term-time holiday" }

function on_pupil(p)
  legal_step(p, "penalty_notice", { support_inappropriate = true, reason = "term-time holiday" })
  legal_step(p, "letter", { support_inappropriate = false })
end
