-- expect: stopped: over the memory budget
policy { org = "trust:TR00092", name = "hostile: string.rep of 2^30 bytes" }
function on_pupil(p)
  local s = string.rep("x", 2^30)
  alert(p, "never", { message = s })
end
