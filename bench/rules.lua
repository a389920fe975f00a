-- bench/rules.lua — the rules of the peer comparison (bench/peer.js states
-- the same ones for json-rules-engine): every pupil is evaluated by
-- build/bench-evaluate whatever its council, and each rule that holds
-- records one alert of its kind. cooldown_days = 0 and fixed evidence, so
-- that nothing is suppressed and both sides do the same work.
policy {
  org = "la:000",
  name = "Bench rules",
  endpoints = { alert = "hook" },
}

local national = require "national"

function on_pupil(p)
  local recent = p:window{ school_weeks = 6 }
  if recent.possible >= 20 and recent.rate < 0.90 then
    alert(p, "low_attendance", { severity = "medium", cooldown_days = 0, evidence = {} })
  end
  if national.penalty_threshold_met(p) then
    alert(p, "penalty_threshold", { severity = "high", cooldown_days = 0, evidence = {} })
  end
  if national.persistent(p) then
    alert(p, "persistent_absence", { severity = "medium", cooldown_days = 0, evidence = {} })
  end
  if national.severe(p) then
    alert(p, "severe_absence", { severity = "high", cooldown_days = 0, evidence = {} })
  end
  if national.continuous_absence(p) then
    alert(p, "continuous_absence", { severity = "urgent", cooldown_days = 0, evidence = {} })
  end
end
