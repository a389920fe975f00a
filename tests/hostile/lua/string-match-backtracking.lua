-- expect: stopped: string.match would go over the budget of 10000000 instructions
policy { org = "trust:TR00092", name = "hostile: lazy captures that backtrack, called as a method" }
function on_pupil(p)
  return ("a"):rep(30):match(("(.-)"):rep(20) .. "b")
end
