-- expect: the pupil is read-only
policy { org = "trust:TR00092", name = "hostile: writes to the pupil" }
function on_pupil(p)
  p.upn = "B801200005001"
end
