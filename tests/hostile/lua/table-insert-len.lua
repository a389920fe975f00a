-- expect: table.insert: not for a table with a __len metamethod (in the sandbox)
policy { org = "trust:TR00092", name = "hostile: a __len that makes table.insert shift 2^62 slots" }
function on_pupil(p)
  local t = setmetatable({}, { __len = function() return math.maxinteger // 2 end })
  table.insert(t, 1, "x")
end
