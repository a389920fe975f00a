-- expect: more than 16 actions in one call
policy { org = "trust:TR00092", name = "hostile: records without end" }
function on_pupil(p)
  for i = 1, 1000 do alert(p, "flood", { cooldown_days = 0 }) end
end
