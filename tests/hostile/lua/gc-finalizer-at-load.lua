-- expect-load: setmetatable: a __gc metamethod is not allowed in the sandbox
policy { org = "trust:TR00092", name = "hostile: a finalizer made at load, run at close" }
setmetatable({}, { __gc = function() local t = {} while true do t[#t + 1] = t end end })
function on_pupil(p) end
