-- expect: stopped: string.rep would go over the budget of 10000000 instructions
policy { org = "trust:TR00092", name = "hostile: string.rep with an empty separator" }
function on_pupil(p)
  return ("").rep("", math.maxinteger // 2, "")
end
