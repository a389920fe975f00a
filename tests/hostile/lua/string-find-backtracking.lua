-- expect: stopped: string.find would go over the budget of 10000000 instructions
policy { org = "trust:TR00092", name = "hostile: a pattern that backtracks about 31^30 times" }
function on_pupil(p)
  return string.find(string.rep("a", 30), string.rep("a*", 30) .. "b")
end
