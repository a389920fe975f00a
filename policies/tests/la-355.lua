-- Tests for Salford's policy (policies/la-355.lua): run them with
--   rollcall test policies/tests/la-355.lua
--
-- Marks are one token a school day, AM then PM: / and \ present, N no
-- reason yet, I illness, G holiday, # closure, -- no marks that day.
-- NN*5 is five such days; | says a new week starts (Monday); @DATE jumps
-- ahead (half term). docs/POLICIES.md, "Testing a policy", has it all.
-- Each legal step the policy proposes is taken as approved on the day it is
-- proposed (live, an officer decides it: rollcall signoff), so that a case
-- climbs the ladder one approved rung at a time.

schools = {
  { urn = "135001", name = "Salford Academy", la_code = "355" },
}
start = "2025-09-01"    -- a Monday; half term is 27 to 31 October 2025

cases = {
  {
    name = "full attendance: nothing happens",
    pupils = { { upn = "J355400120001", marks = [[ /\*30 ]] } },
    nothing_else = true,
  },

  {
    name = "absent every day: the whole ladder, one rung every 28 days",
    pupils = {
      { upn = "J355400120001",
        marks = [[ NN*40 | @2025-11-03 NN*25 ]] },   -- half term skipped
    },
    expect = {
      { legal_step = "letter", date = "2025-09-05", count = 1 },   -- the 10th session
      { legal_step = "meeting", date = "2025-10-03", count = 1 },  -- 28 days on
      -- 28 days after the meeting is in half term: the next school day
      { legal_step = "notice_to_improve", date = "2025-11-03", count = 1 },
      { legal_step = "penalty_notice", date = "2025-12-01", count = 1 },
      -- persistent and severe absence count once 20 sessions are in
      { referral = true, date = "2025-09-12", count = 1 },
      { alert = "severe_absence", severity = "high", date = "2025-09-12" },
      { alert = "continuous_absence", severity = "urgent", date = "2025-09-12" },
      { alert = "missing_education", severity = "urgent", date = "2025-09-26" },
      { alert = "low_attendance", date = "2025-09-12" },
      -- an alert comes again once its 28-day cooldown has passed
      { alert = "severe_absence", count = 4 },
      { alert = "low_attendance", count = 4 },
    },
    never = {
      { alert = "continuous_absence", date = "..2025-09-11" },
      { case_closed = true },
    },
  },

  {
    name = "step_gap_days = 14: the rungs come two weeks apart",
    params = { step_gap_days = 14 },
    pupils = { { upn = "J355400120001", marks = [[ NN*40 ]] } },
    expect = {
      { legal_step = "letter", date = "2025-09-05" },
      { legal_step = "meeting", date = "2025-09-19" },
      { legal_step = "notice_to_improve", date = "2025-10-03" },
      { legal_step = "penalty_notice", date = "2025-10-17", count = 1 },
    },
  },

  {
    name = "persistent illness: one referral, and no legal step",
    pupils = {
      { upn = "J355400120001",
        marks = [[ /\*5 | I\ /\ I\ /\ /\ | I\ /\ I\ /\ /\ | I\ /\ I\ /\ /\ ]] },
    },
    expect = {
      -- absent 2 of the first 20 sessions: 10%, persistent once two
      -- school weeks are in
      { referral = true, date = "2025-09-12", count = 1 },
      { alert = "low_attendance", severity = "medium", date = "2025-09-15" },
    },
    nothing_else = true,
  },

  {
    name = "a pupil who stops coming: continuous absence, then missing education",
    pupils = { { upn = "J355400120001", marks = [[ /\*10 | NN*20 ]] } },
    expect = {
      { alert = "low_attendance", date = "2025-09-16" },
      { referral = true, date = "2025-09-16" },
      { legal_step = "letter", date = "2025-09-19" },
      -- the 10th school day in a row, and half of all sessions missed
      { alert = "continuous_absence", severity = "urgent", date = "2025-09-26" },
      { alert = "severe_absence", severity = "high", date = "2025-09-26" },
      { alert = "missing_education", severity = "urgent", date = "2025-10-10" },
    },
    nothing_else = true,
  },

  {
    name = "a day of illness breaks a run of unauthorised absence",
    pupils = { { upn = "J355400120001", marks = [[ /\*10 | NN*9 II NN*9 ]] } },
    never = {
      { alert = "continuous_absence" },
      { alert = "missing_education" },
    },
  },

  {
    name = "a closure day (#) neither breaks nor extends the run",
    pupils = { { upn = "J355400120001", marks = [[ /\*10 | NN*5 ## NN*5 ]] } },
    expect = {
      { alert = "continuous_absence", date = "2025-09-29", count = 1 },
    },
  },

  {
    name = "the case closes when attendance over six school weeks recovers",
    pupils = {
      { upn = "J355400120001",
        marks = [[ /\*10 | II II I\ /\ /\ | /\*30 ]] },
    },
    expect = {
      { referral = true, date = "2025-09-16" },
      { alert = "low_attendance", date = "2025-09-16" },
      -- the first day the week of illness is out of the six-week window
      { case_closed = true, reason = "attendance recovered", date = "2025-10-27" },
    },
    nothing_else = true,
  },

  {
    name = "a case closed on recovery is not re-referred for the year's old absence",
    pupils = { { upn = "J355400120001", marks = [[ II*5 | /\*35 ]] } },
    expect = {
      { referral = true, date = "2025-09-12", count = 1 },
      -- six school weeks without the week of illness; the year's absence
      -- is still 16%, persistent, but the last six weeks have recovered
      { case_closed = true, reason = "attendance recovered", date = "2025-10-13" },
    },
    never = {
      { referral = true, date = "2025-09-13.." },
    },
  },

  {
    name = "unauthorised sessions either side of half term count together",
    pupils = {
      { upn = "J355400120001",
        marks = [[ /\*35 | /\ /\ /\ NN NN | @2025-11-03 NN NN NN /\ /\ ]] },
    },
    expect = {
      -- 4 sessions before half term and 6 after: half term is no school week
      { legal_step = "letter", date = "2025-11-05" },
      { referral = true, date = "2025-11-05" },
      { alert = "low_attendance", date = "2025-11-03" },
    },
    nothing_else = true,
  },

  {
    name = "alert_rate = 0.95: a pupil at 94% is flagged",
    params = { alert_rate = 0.95 },
    pupils = {
      -- 3 sessions of illness in 55: 94.5% over six school weeks
      { upn = "J355400120001",
        marks = [[ /\*20 | I\ /\ /\ /\ /\ | I\ /\ I\ /\ /\ ]] },
    },
    expect = {
      { alert = "low_attendance", severity = "medium", date = "2025-10-08" },
    },
    nothing_else = true,
  },

  {
    name = "at the default alert_rate of 0.90 the same pupil is not",
    pupils = {
      { upn = "J355400120001",
        marks = [[ /\*20 | I\ /\ /\ /\ /\ | I\ /\ I\ /\ /\ ]] },
    },
    nothing_else = true,
  },
}
