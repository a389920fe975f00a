-- expect: stack overflow
policy { org = "trust:TR00092", name = "hostile: unbounded recursion" }
local function deeper(n) return 1 + deeper(n + 1) end
function on_pupil(p)
  return deeper(1)
end
