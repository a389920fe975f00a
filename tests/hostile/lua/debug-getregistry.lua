-- expect: undefined global 'debug'
policy { org = "trust:TR00092", name = "hostile: debug.getregistry" }
function on_pupil(p)
  local r = debug.getregistry()
end
