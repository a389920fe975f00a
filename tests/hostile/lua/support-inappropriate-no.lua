-- expect: legal_step: support_inappropriate must be true or false, not string
policy { org = "trust:TR00092", name = "hostile: \"no\" to skip the Notice to Improve" }
function on_pupil(p)
  legal_step(p, "penalty_notice", { support_inappropriate = "no" })
end
