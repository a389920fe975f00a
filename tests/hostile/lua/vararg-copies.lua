-- expect: stopped: over 1 s of wall-clock time in one call
policy { org = "trust:TR00092", name = "hostile: quadratic work inside single instructions" }
-- Each call copies every vararg in one VM instruction: O(n^2) copying in
-- O(n) instructions, which the instruction budget alone cannot see.
local function grow(n, ...)
  if n == 0 then return select("#", ...) end
  return grow(n - 1, n, ...)
end
function on_pupil(p)
  for i = 1, 1000 do grow(7000) end
  alert(p, "unreachable", {})
end
