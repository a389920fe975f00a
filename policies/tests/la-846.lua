-- Tests for Brighton and Hove's policy (policies/la-846.lua): run them with
--   rollcall test policies/tests/la-846.lua
--
-- Marks: one token a school day, AM then PM (/ \ present, G holiday not
-- granted, N no reason yet, I illness); NN*5 is five days; | a new week;
-- @DATE jumps over a holiday. See docs/POLICIES.md, "Testing a policy".
-- Each legal step the policy proposes is taken as approved on the day it is
-- proposed (live, an officer decides it: rollcall signoff), so that a case
-- follows the ladder: a Notice to Improve after an approved contract.
--
-- The school year in these tests: autumn term from Monday 1 September
-- 2025, half term 27 to 31 October, Christmas 22 December to 2 January;
-- February half term 16 to 20 February 2026; Easter 30 March to 10 April.

schools = {
  { urn = "114001", name = "Hove Park School", la_code = "846" },
}
start = "2025-09-01"

cases = {
  {
    name = "a week of term-time holiday: straight to a penalty notice",
    pupils = { { upn = "G846600120001", marks = [[ /\*5 | GG*5 | /\*10 ]] } },
    expect = {
      -- the 10th holiday session; no Notice to Improve first (support is
      -- inappropriate for a holiday)
      { legal_step = "penalty_notice", date = "2025-09-12", count = 1 },
    },
    nothing_else = true,
  },

  {
    name = "eight holiday sessions are below the threshold of ten",
    pupils = { { upn = "G846600120001", marks = [[ /\*5 | GG*4 /\ | /\*10 ]] } },
    nothing_else = true,
  },

  {
    name = "holiday_sessions = 12: a week's holiday is dealt with as other absence",
    params = { holiday_sessions = 12 },
    pupils = { { upn = "G846600120001", marks = [[ /\*5 | GG*5 | GG /\*4 ]] } },
    expect = {
      -- 10 unauthorised sessions: the contract
      { legal_step = "attendance_contract", date = "2025-09-12" },
      -- the 12th holiday session
      { legal_step = "penalty_notice", date = "2025-09-15", count = 1 },
    },
    nothing_else = true,
  },

  {
    name = "one holiday across half term: one penalty notice, never a second for it",
    pupils = {
      { upn = "G846600120001",
        -- Thursday and Friday before half term, Monday to Wednesday after
        marks = [[ /\*35 | /\ /\ /\ GG GG | @2025-11-03 GG GG GG /\ /\ |
                   /\*30 | @2026-01-05 /\*10 ]] },
    },
    expect = {
      { legal_step = "penalty_notice", date = "2025-11-05", count = 1 },
    },
    never = {
      -- the same ten sessions stay within 10 school weeks until mid-January,
      -- past the 70-day cooldown: they never ground a second notice
      { legal_step = "penalty_notice", date = "2025-11-06.." },
    },
    nothing_else = true,
  },

  {
    name = "three holidays in a year: a third penalty notice is refused",
    pupils = {
      { upn = "G846600120001",
        marks = [[ /\*5 | GG*5 | /\*30 | @2025-11-03 /\*35 |
                   @2026-01-05 /\*5 | GG*5 | /\*20 | @2026-02-23 /\*25 |
                   @2026-04-13 /\*5 | GG*5 | /\*10 ]] },
    },
    expect = {
      { legal_step = "penalty_notice", date = "2025-09-12" },
      { legal_step = "penalty_notice", date = "2026-01-16" },
      -- at most two penalty notices for a child within three years
      { legal_step = "penalty_notice", count = 2 },
    },
    never = {
      { legal_step = "penalty_notice", date = "2026-04-01.." },
    },
  },

  {
    name = "unauthorised absence: an attendance contract, then a Notice to Improve",
    pupils = { { upn = "G846600120001", marks = [[ /\*5 | NN*5 | /\*20 | NN /\*4 ]] } },
    expect = {
      { legal_step = "attendance_contract", date = "2025-09-12", count = 1 },
      -- absence went on after the contract's 28 days (13 October, 31
      -- days on), with the threshold still met
      { legal_step = "notice_to_improve", date = "2025-10-13", count = 1 },
    },
    never = {
      { legal_step = "penalty_notice" },   -- only holidays lead to one
    },
    nothing_else = true,
  },

  {
    name = "absence under the contract: the Notice to Improve waits for its 28 days",
    pupils = { { upn = "G846600120001", marks = [[ /\*5 | NN*5 | /\*15 | NN /\*4 ]] } },
    expect = {
      { legal_step = "attendance_contract", date = "2025-09-12", count = 1 },
      -- absent on 6 October, 24 days on; the notice on day 28
      { legal_step = "notice_to_improve", date = "2025-10-10", count = 1 },
    },
    nothing_else = true,
  },

  {
    name = "contract_days = 21: the same absence 24 days on brings the Notice to Improve",
    params = { contract_days = 21 },
    pupils = { { upn = "G846600120001", marks = [[ /\*5 | NN*5 | /\*15 | NN /\*4 ]] } },
    expect = {
      { legal_step = "attendance_contract", date = "2025-09-12", count = 1 },
      { legal_step = "notice_to_improve", date = "2025-10-06", count = 1 },
    },
    nothing_else = true,
  },

  {
    name = "ten school days of unauthorised absence: continuous absence",
    pupils = { { upn = "G846600120001", marks = [[ /\*5 | NN*10 | /\*5 ]] } },
    expect = {
      { legal_step = "attendance_contract", date = "2025-09-12" },
      { alert = "continuous_absence", severity = "urgent", date = "2025-09-19" },
    },
    nothing_else = true,
  },

  {
    name = "fifteen days of illness are reported, and lead to no legal step",
    pupils = { { upn = "G846600120001", marks = [[ /\*5 | II*15 | /\*5 ]] } },
    expect = {
      { alert = "illness_15_days", severity = "medium", date = "2025-09-26", count = 1 },
    },
    nothing_else = true,
  },

  {
    name = "half days of illness add up: thirty mornings are fifteen days",
    pupils = { { upn = "G846600120001", marks = [[ I\*30 ]] } },
    expect = {
      { alert = "illness_15_days", date = "2025-10-10" },
    },
    nothing_else = true,
  },
}
