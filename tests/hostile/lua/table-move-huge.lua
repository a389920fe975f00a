-- expect: stopped: table.move would go over the budget of 10000000 instructions
policy { org = "trust:TR00092", name = "hostile: table.move over 2^62 empty slots" }
function on_pupil(p)
  table.move({}, 1, math.maxinteger // 2, 2)
end
