-- expect: undefined global 'os'
policy { org = "trust:TR00092", name = "hostile: os.execute" }
function on_pupil(p)
  os.execute("touch /tmp/rollcall-pwned")
end
