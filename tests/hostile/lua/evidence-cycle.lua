-- expect: evidence: a table that contains itself
policy { org = "trust:TR00092", name = "hostile: evidence that contains itself" }
function on_pupil(p)
  local t = {}
  t.self = t
  alert(p, "cycle", { evidence = t })
end
