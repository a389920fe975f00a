-- expect: stopped: over 1 s of wall-clock time in one call
policy { org = "trust:TR00092", name = "hostile: work inside single instructions" }
-- Each comparison of two 24 MiB strings is one VM instruction: the count
-- hook cannot see the work, the deadline does.
local a = string.rep(string.rep("x", 1024), 24 * 1024)
local b = a .. "y"
function on_pupil(p)
  local n = 0
  for i = 1, 1000000 do if a < b then n = n + 1 end end
  alert(p, "unreachable", { data = { n = n } })
end
