-- expect: undefined global 'nationl'
policy { org = "trust:TR00092", name = "hostile: a typo in a global name" }
function on_pupil(p)
  if nationl.persistent(p) then alert(p, "x") end
end
