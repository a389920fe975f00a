-- expect: cannot set 'J355400120001'
policy { org = "trust:TR00092", name = "hostile: keeps state in a table its function holds" }
local seen = {}
function on_pupil(p)
  seen[p.upn] = true
  alert(p, "remembered")
end
