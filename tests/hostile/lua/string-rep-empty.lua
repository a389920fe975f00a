-- expect: stopped: string.rep would go over the budget of 10000000 instructions
policy { org = "trust:TR00092", name = "hostile: string.rep loops without allocating" }
function on_pupil(p)
  return string.rep("", math.maxinteger)
end
