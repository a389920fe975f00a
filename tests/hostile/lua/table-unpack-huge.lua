-- expect: over the budget of 10000000 instructions
policy { org = "trust:TR00092", name = "hostile: 900000 values pushed in C at every call" }
function on_pupil(p)
  while true do local _ = table.unpack({}, 1, 900000) end
end
