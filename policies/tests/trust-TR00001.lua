-- Tests for Harbour Learning Trust's policy (policies/trust-TR00001.lua),
-- which only alerts, with thresholds the trust sets with rollcall params:
--   rollcall test policies/tests/trust-TR00001.lua
--
-- Marks: one token a school day, AM then PM (/ \ present, N no reason
-- yet, I illness); /\*10 is ten days; | a new week. See docs/POLICIES.md,
-- "Testing a policy".

schools = {
  { urn = "140001", name = "Harbour Academy", la_code = "846", trust_id = "TR00001" },
  -- a council school beside it: not the trust's
  { urn = "114002", name = "Seafront Community School", la_code = "846" },
}
start = "2025-09-01"

cases = {
  {
    name = "low attendance and persistent absence, once 20 sessions are in",
    pupils = {
      { upn = "M846700120001", urn = "140001",
        marks = [[ /\*5 | /\ NN /\ NN /\ | /\*10 ]] },
    },
    expect = {
      -- 16 of 20 sessions: 80%, and 20% absent
      { alert = "low_attendance", severity = "medium", date = "2025-09-12", count = 1 },
      { alert = "persistent_absence", severity = "high", date = "2025-09-12", count = 1 },
    },
    nothing_else = true,
  },

  {
    name = "no alert before min_sessions sessions, however bad",
    pupils = { { upn = "M846700120001", urn = "140001", marks = [[ NN*9 I\ ]] } },
    expect = {
      { alert = "low_attendance", date = "2025-09-12" },       -- the 20th session
      { alert = "persistent_absence", date = "2025-09-12" },
    },
    nothing_else = true,
  },

  {
    name = "min_sessions = 30: the same alerts a week later",
    params = { min_sessions = 30 },
    pupils = { { upn = "M846700120001", urn = "140001", marks = [[ NN*15 ]] } },
    expect = {
      { alert = "low_attendance", date = "2025-09-19" },
      { alert = "persistent_absence", date = "2025-09-19" },
    },
    nothing_else = true,
  },

  {
    name = "alert_rate = 0.92 and persistent_rate = 0.05: a pupil at 91% is flagged",
    params = { alert_rate = 0.92, persistent_rate = 0.05 },
    pupils = {
      { upn = "M846700120001", urn = "140001", marks = [[ /\*10 | I\ I\ /\ /\ /\ | /\*5 ]] },
    },
    expect = {
      -- 21 of 23 sessions on Tuesday morning of week 3
      { alert = "low_attendance", date = "2025-09-16" },
      { alert = "persistent_absence", date = "2025-09-16" },   -- 2 of 23: 8.7%
    },
    nothing_else = true,
  },

  {
    name = "at the default thresholds the same pupil is not",
    pupils = {
      { upn = "M846700120001", urn = "140001", marks = [[ /\*10 | I\ I\ /\ /\ /\ | /\*5 ]] },
    },
    nothing_else = true,
  },

  {
    name = "a pupil at a school outside the trust is not the trust's to alert on",
    pupils = {
      { upn = "M846700120001", urn = "140001", marks = [[ /\*15 ]] },
      { upn = "B846700120002", urn = "114002", marks = [[ NN*15 ]] },
    },
    never = {
      { alert = true, upn = "B846700120002" },
    },
    nothing_else = true,
  },
}
