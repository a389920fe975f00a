-- expect: setmetatable: a __close metamethod is not allowed in the sandbox
policy { org = "trust:TR00092", name = "hostile: a to-be-closed variable that never closes" }
function on_pupil(p)
  local guard <close> = setmetatable({}, { __close = function() while true do end end })
  error("unwind through the guard")
end
