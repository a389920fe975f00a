-- expect: cannot set 'last_upn'
policy { org = "trust:TR00092", name = "hostile: keeps state in a library table" }
function on_pupil(p)
  local before = string.last_upn
  string.last_upn = p.upn
  alert(p, "after", { data = { before = before } })
end
