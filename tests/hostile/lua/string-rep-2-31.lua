-- expect: stopped: over the memory budget of 67108864 bytes (string.rep would make 2147483648 bytes)
policy { org = "trust:TR00092", name = "hostile: string.rep of 2^31 bytes" }
function on_pupil(p)
  local s = string.rep("x", 2^31)
  alert(p, "never", { message = s })
end
