-- expect: data is over 16384 bytes of JSON
policy { org = "trust:TR00092", name = "hostile: a megabyte of data on each action" }
function on_pupil(p)
  alert(p, "bulky", { data = { blob = string.rep("x", 500000) } })
end
