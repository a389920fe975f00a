-- Harbour Learning Trust (TR00001): thresholds and alerts only.
--
-- The trust's attendance lead sets the thresholds with `rollcall params
-- trust:TR00001 NAME=VALUE`; no code changes are needed. Legal steps are the
-- councils' business, so this policy only alerts the trust's own team.

policy {
  org  = "trust:TR00001",
  name = "Harbour Learning Trust",
  endpoints = { alert = "trust-attendance" },
  params = {
    alert_rate = { default = 0.90, min = 0.50, max = 1.00,
                   doc = "alert when attendance over 6 school weeks falls below this" },
    persistent_rate = { default = 0.10, min = 0.05, max = 0.50,
                        doc = "absence rate this year that counts as persistent" },
    min_sessions = { default = 20, min = 1, max = 200, integer = true,
                     doc = "sessions a pupil must have had before any alert" },
  },
}

function on_pupil(p)
  local recent = p:window{ school_weeks = 6 }
  if recent.possible < param "min_sessions" then
    return
  end
  if recent.rate < param "alert_rate" then
    alert(p, "low_attendance", { severity = "medium", evidence = recent })
  end
  local year = p:window{ academic_year = true }
  if year.absence_rate >= param "persistent_rate" then
    alert(p, "persistent_absence", { severity = "high", evidence = year })
  end
end
