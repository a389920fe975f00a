-- expect: stopped: table.sort would go over the budget of 10000000 instructions
policy { org = "trust:TR00092", name = "hostile: sorts 2^18 numbers again and again" }
function on_pupil(p)
  local t = {}
  for i = 1, 2^18 do t[i] = -i end
  while true do table.sort(t) end
end
