-- expect: table.remove: not for a table with a __len metamethod (in the sandbox)
policy { org = "trust:TR00092", name = "hostile: a __len that makes table.remove shift 2^63 slots" }
function on_pupil(p)
  local t = setmetatable({}, { __len = function() return math.maxinteger - 1 end })
  table.remove(t, 1)
end
