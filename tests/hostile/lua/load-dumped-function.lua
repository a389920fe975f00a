-- expect: undefined global 'load'
policy { org = "trust:TR00092", name = "hostile: load of a dumped function" }
function on_pupil(p)
  local dump = string.dump and string.dump(function() return 1 end) or "\27Lua"
  local f = load(dump, "x", "b")
  f()
end
