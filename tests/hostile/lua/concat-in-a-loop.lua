-- expect: stopped: over the budget of 10000000 instructions
policy { org = "trust:TR00092", name = "hostile: copies 8 MB with each `..`" }
function on_pupil(p)
  local s = string.rep("x", 2^22)
  while true do local _ = s .. s end
end
