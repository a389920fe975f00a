-- expect: setmetatable: a __gc metamethod is not allowed in the sandbox
policy { org = "trust:TR00092", name = "hostile: a finalizer that never returns" }
-- Lua runs finalizers with hooks off: no budget or deadline could stop it,
-- and it would run whenever the collector next ran, holding the engine.
function on_pupil(p)
  setmetatable({}, { __gc = function() while true do end end })
end
