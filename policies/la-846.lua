-- Brighton and Hove City Council (LA 846): quick on term-time holidays,
-- contract-based for everything else.
--
-- Term-time holiday (code G) is treated on its own: support is inappropriate,
-- so 10+ holiday sessions in 10 school weeks go straight to a penalty notice.
-- (Not fewer: 10 unauthorised sessions is the national threshold, below
-- which rollcall refuses a penalty notice.) One holiday stays inside the
-- 10-school-week window for up to 77 days across half term, longer than
-- the cooldown; rollcall never lets the same sessions ground a second
-- notice, so the cooldown only keeps the policy from asking again daily.
-- Other unauthorised absence at the threshold leads to an attendance
-- contract, then, if absence goes on after contract_days, a Notice to Improve. Illness past 15 days is reported.

policy {
  org  = "la:846",
  name = "Brighton and Hove City Council",
  endpoints = { alert = "ewo-team", legal = "legal-team" },
  params = {
    holiday_sessions = { default = 10, min = 10, max = 20, integer = true,
                         doc = "holiday (G) sessions in 10 school weeks that lead to a penalty notice" },
    contract_days = { default = 28, min = 14, max = 90, integer = true,
                      doc = "days an attendance contract has to work before a Notice to Improve" },
  },
}

local national = require "national"

function on_pupil(p)
  if national.holiday_sessions(p) >= param "holiday_sessions" then
    legal_step(p, "penalty_notice", { support_inappropriate = true,
      reason = "term-time holiday without leave", cooldown_days = 70 })
  elseif national.penalty_threshold_met(p) then
    local case = p.case
    if case == nil then
      legal_step(p, "attendance_contract", { reason = "10+ unauthorised sessions in 10 school weeks" })
    elseif case.stage == "attendance_contract" then
      -- The contract has contract_days to work; a Notice to Improve only
      -- if unauthorised absence went on under it after that.
      local since = national.days_since_last_step(p)
      if since >= param "contract_days" and p:window{ days = since }.unauthorised > 0 then
        legal_step(p, "notice_to_improve", { reason = "absence continued under the contract" })
      end
    end
  end

  if national.illness_notifiable(p) then
    alert(p, "illness_15_days", { severity = "medium", cooldown_days = 90 })
  end

  if national.continuous_absence(p) then
    alert(p, "continuous_absence", { severity = "urgent" })
  end
end
