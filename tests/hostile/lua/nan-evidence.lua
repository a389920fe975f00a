-- expect: alert: evidence: r: not a finite number (NaN)
policy { org = "trust:TR00092", name = "hostile: NaN in evidence, which JSON cannot hold" }
function on_pupil(p)
  alert(p, "x", { evidence = { r = 0/0 } })
end
