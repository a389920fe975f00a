-- expect: p:window{}: unknown key 'school_week' (give one of sessions, school_weeks, days, since or academic_year)
policy { org = "trust:TR00092", name = "hostile: a window with a misspelt key" }
function on_pupil(p)
  if p:window{ school_week = 6 }.rate < 0.9 then alert(p, "low") end
end
