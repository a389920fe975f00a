-- expect: undefined global 'io'
policy { org = "trust:TR00092", name = "hostile: io.open" }
function on_pupil(p)
  local f = io.open("/etc/passwd")
  alert(p, "leak", { message = f:read("a") })
end
