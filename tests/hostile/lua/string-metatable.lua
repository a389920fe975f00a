-- expect: attempt to index a nil value (field '__index')
policy { org = "trust:TR00092", name = "hostile: reaches the strings' metatable" }
function on_pupil(p)
  local mt = getmetatable("")
  mt.__index.kept = p.upn
  alert(p, "reached")
end
