-- expect: attempt to call a nil value (field 'randomseed')
policy { org = "trust:TR00092", name = "hostile: reseeds the random generator" }
function on_pupil(p)
  math.randomseed(42)
end
