-- expect: stopped: over the budget of
policy { org = "trust:TR00092", name = "hostile: infinite loop" }
function on_pupil(p)
  while true do end
end
