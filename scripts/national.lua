-- national.lua — the DfE attendance framework as functions a policy can reuse.
--
-- Every rule names its source. Figures come from the engine (p:window and the
-- p.consecutive_* fields); this module only applies the national thresholds.
--   local national = require "national"

local national = {}

-- Explore Education Statistics, "Pupil attendance in schools": persistent
-- absence is missing 10% or more of possible sessions, severe 50% or more.
national.PERSISTENT_RATE = 0.10
national.SEVERE_RATE = 0.50

-- A rate over a few sessions says little: on the first day of term one
-- absent session of two is a 50% absence rate. So absence counts as
-- persistent or severe only once the pupil has had 20 possible sessions
-- this academic year (two school weeks), as the bundled policies already
-- wait for 20 sessions before a low-attendance alert. This is rollcall's
-- choice, not a DfE rule: the DfE's statistics measure whole terms.
national.MIN_POSSIBLE_SESSIONS = 20

-- DfE national framework for penalty notices (from 19 August 2024): a notice
-- must be considered at 10 sessions of unauthorised absence (G, N, O, U)
-- within a rolling 10 school weeks, which may span terms and school years.
national.PENALTY_SESSIONS = 10
national.PENALTY_SCHOOL_WEEKS = 10

-- School Attendance (Pupil Registration) Regulations: schools tell the LA of
-- continuous unauthorised absence of not less than 10 school days.
national.CONTINUOUS_DAYS = 10

-- CME guidance 2024: the LA is told of 15 school days' absence through
-- illness. Whether consecutive or cumulative is unconfirmed; rollcall counts
-- them cumulatively over the academic year (docs/POLICIES.md).
national.ILLNESS_DAYS = 15

-- Children missing education (s436A Education Act 1996): after 20 school
-- days of continuous unauthorised absence a pupil may be deleted from roll
-- once reasonable enquiries are made; the LA must know.
national.CME_DAYS = 20

-- Absence rate over the academic year so far.
function national.absence_rate(p)
  return p:window{ academic_year = true }.absence_rate
end

function national.persistent(p)
  local year = p:window{ academic_year = true }
  return year.possible >= national.MIN_POSSIBLE_SESSIONS
     and year.absence_rate >= national.PERSISTENT_RATE
end

function national.severe(p)
  local year = p:window{ academic_year = true }
  return year.possible >= national.MIN_POSSIBLE_SESSIONS
     and year.absence_rate >= national.SEVERE_RATE
end

-- Unauthorised sessions in the last 10 school weeks.
function national.unauthorised_in_penalty_window(p)
  return p:window{ school_weeks = national.PENALTY_SCHOOL_WEEKS }.unauthorised
end

function national.penalty_threshold_met(p)
  return national.unauthorised_in_penalty_window(p) >= national.PENALTY_SESSIONS
end

-- Sessions of term-time holiday (code G) in the penalty window: support is
-- usually inappropriate for these, so no Notice to Improve is needed first.
function national.holiday_sessions(p)
  local codes = p:window{ school_weeks = national.PENALTY_SCHOOL_WEEKS }.codes
  return codes["G"] or 0
end

function national.continuous_absence(p)
  return p.consecutive_unauthorised_days >= national.CONTINUOUS_DAYS
end

-- School days of illness (code I) this academic year; a half day counts half.
function national.illness_days(p)
  local codes = p:window{ academic_year = true }.codes
  return (codes["I"] or 0) / 2
end

function national.illness_notifiable(p)
  return national.illness_days(p) >= national.ILLNESS_DAYS
end

function national.missing_education(p)
  return p.consecutive_unauthorised_days >= national.CME_DAYS
end

-- Days from date a to date b ("YYYY-MM-DD"), for pacing steps: b - a.
local function day_number(iso)
  local y, m, d = iso:match("^(%d%d%d%d)-(%d%d)-(%d%d)$")
  y, m, d = tonumber(y), tonumber(m), tonumber(d)
  if m <= 2 then y = y - 1 end
  local era = y // 400
  local yoe = y - era * 400
  local doy = (153 * (m + (m > 2 and -3 or 9)) + 2) // 5 + d - 1
  return era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy
end

function national.days_between(a, b)
  return day_number(b) - day_number(a)
end

-- Days since the case's latest legal step (nil if it has none).
function national.days_since_last_step(p)
  local case = p.case
  if not case then return nil end
  for i = #case.steps, 1, -1 do
    if case.steps[i].step ~= "referral" then
      return national.days_between(case.steps[i].date, today())
    end
  end
  return nil
end

return national
