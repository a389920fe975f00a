-- expect: stopped: table.concat would go over the budget of 10000000 instructions
policy { org = "trust:TR00092", name = "hostile: table.concat of 2^63 empty strings, all made in C" }
function on_pupil(p)
  local empties = setmetatable({}, { __index = table.concat })
  return table.concat(empties, "", 1, math.maxinteger)
end
