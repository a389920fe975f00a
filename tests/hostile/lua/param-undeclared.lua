-- expect-load: param-undeclared.lua:7: param "alert_rat" is not declared in policy{ params } (declared: alert_rate); did you mean "alert_rate"?
policy { org = "trust:TR00092", name = "hostile: a misspelt param name, in a branch no pupil reaches",
  params = { alert_rate = { default = 0.9, min = 0.5, max = 1, doc = "a threshold" } } }
function on_pupil(p)
  local recent = p:window{ school_weeks = 6 }
  if recent.possible > 100000 then
    alert(p, "low", { data = { rate = param "alert_rat" } })
  end
end
