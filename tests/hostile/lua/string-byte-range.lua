-- expect: stopped: string.byte would go over the budget of 10000000 instructions
policy { org = "trust:TR00092", name = "hostile: 900000 values pushed in C at every call" }
function on_pupil(p)
  local s = string.rep("x", 900000)
  while true do local _ = s:byte(1, -1) end
end
