-- expect: legal_step: support_inappropriate must be true or false, not number
policy { org = "trust:TR00092", name = "hostile: 0 to skip the Notice to Improve" }
function on_pupil(p)
  legal_step(p, "penalty_notice", { support_inappropriate = 0 })
end
