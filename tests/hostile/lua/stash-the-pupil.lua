-- expect: a pupil can only be used during the on_pupil call it was given to
policy { org = "trust:TR00092", name = "hostile: keeps p for a later pupil" }
local previous
function on_pupil(p)
  if previous then
    alert(previous, "wrong_pupil")
  end
  previous = p
end
