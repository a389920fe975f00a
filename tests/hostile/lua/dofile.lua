-- expect: undefined global 'dofile'
policy { org = "trust:TR00092", name = "hostile: dofile" }
function on_pupil(p)
  dofile("/etc/passwd")
end
