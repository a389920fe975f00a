-- expect: stopped: string.format would go over the budget of 10000000 instructions
policy { org = "trust:TR00092", name = "hostile: quotes a megabyte again and again" }
function on_pupil(p)
  local s = string.rep("x", 2^20)
  while true do local _ = string.format("%q", s) end
end
