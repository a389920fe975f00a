-- expect: stopped: over the budget of
policy { org = "trust:TR00092", name = "hostile: pcall tries to swallow the stop" }
function on_pupil(p)
  while true do
    pcall(function() while true do end end)
  end
end
