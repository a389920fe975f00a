-- expect: stopped: over the memory budget
policy { org = "trust:TR00092", name = "hostile: a table that grows without end" }
function on_pupil(p)
  local hoard = {}
  local i = 0
  while true do
    i = i + 1
    hoard[i] = { i, tostring(i), p.upn }
  end
end
