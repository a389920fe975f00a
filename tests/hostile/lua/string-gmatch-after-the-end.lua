-- expect: stopped: over the budget of 10000000 instructions
policy { org = "trust:TR00092", name = "hostile: calls a finished gmatch iterator again and again" }
function on_pupil(p)
  -- after the only digit, Lua's iterator scans the megabyte after it on every call
  local next_digit = ("1" .. string.rep("x", 2^20)):gmatch("%d")
  while true do next_digit() end
end
