-- expect: attempt to call a nil value (field 'dump')
policy { org = "trust:TR00092", name = "hostile: string.dump" }
function on_pupil(p)
  return string.dump(on_pupil)
end
