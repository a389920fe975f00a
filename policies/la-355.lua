-- Salford City Council (LA 355): support first, then the legal ladder.
--
-- Low attendance is flagged to the Education Welfare team; a persistently
-- absent pupil is referred to an attendance mentor; at the national penalty
-- threshold the council writes, then meets the family, then issues a Notice
-- to Improve, and only if absence goes on does it issue a penalty notice,
-- leaving step_gap_days between rungs for the family to respond. A case
-- closes when attendance over six school weeks recovers.

policy {
  org  = "la:355",
  name = "Salford City Council",
  endpoints = { alert = "ewo-team", referral = "mentors", legal = "legal-team" },
  params = {
    alert_rate = { default = 0.90, min = 0.50, max = 1.00,
                   doc = "alert when attendance over 6 school weeks falls below this" },
    recovered_rate = { default = 0.95, min = 0.80, max = 1.00,
                       doc = "close the case when attendance over 6 school weeks is back to this" },
    step_gap_days = { default = 28, min = 7, max = 90, integer = true,
                      doc = "days to wait after a legal step before the next one" },
  },
}

local national = require "national"

function on_pupil(p)
  local recent = p:window{ school_weeks = 6 }
  local case = p.case

  if recent.possible >= 20 and recent.rate < param "alert_rate" then
    alert(p, "low_attendance", { severity = "medium", evidence = recent,
      message = string.format("attendance %.1f%% over 6 school weeks", recent.rate * 100) })
  end

  if national.severe(p) then
    alert(p, "severe_absence", { severity = "high" })
  end

  -- Persistent this year and not yet recovering: a case closed because the
  -- last six weeks recovered is not re-referred for the year's old absence.
  if national.persistent(p) and recent.rate < param "recovered_rate"
     and not (case and case.referral_open) then
    refer_mentor(p, { message = "persistent absence this academic year" })
  end

  if national.continuous_absence(p) then
    alert(p, "continuous_absence", { severity = "urgent",
      message = p.consecutive_unauthorised_days .. " school days of unauthorised absence" })
  end

  if national.missing_education(p) then
    alert(p, "missing_education", { severity = "urgent" })
  end

  local since = national.days_since_last_step(p)
  local due = since == nil or since >= param "step_gap_days"
  if national.penalty_threshold_met(p) then
    -- One rung at a time, step_gap_days apart.
    local stage = case and case.stage
    if not due then
      -- wait for the family to respond to the last step
    elseif stage == nil or stage == "referral" then
      legal_step(p, "letter", { reason = "10+ unauthorised sessions in 10 school weeks" })
    elseif stage == "letter" then
      legal_step(p, "meeting", { reason = "absence continued after the letter" })
    elseif stage == "meeting" then
      legal_step(p, "notice_to_improve", { reason = "absence continued after the meeting" })
    elseif stage == "notice_to_improve" then
      legal_step(p, "penalty_notice", { reason = "no improvement after the Notice to Improve" })
    end
  elseif case and recent.possible >= 20 and recent.rate >= param "recovered_rate" then
    close_case(p, "attendance recovered")
  end
end
