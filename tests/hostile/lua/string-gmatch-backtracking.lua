-- expect: stopped: string.gmatch would go over the budget of 10000000 instructions
policy { org = "trust:TR00092", name = "hostile: optional items that backtrack 2^30 ways" }
function on_pupil(p)
  for _ in string.gmatch(string.rep("a", 30), string.rep("a?", 30) .. "b") do end
end
