-- expect: the pupil has no field 'consecutive_absence' (did you mean 'consecutive_absent_days'?)
policy { org = "trust:TR00092", name = "hostile: a misspelt field" }
function on_pupil(p)
  if p.consecutive_absence > 10 then alert(p, "absent") end
end
