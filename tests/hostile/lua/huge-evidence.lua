-- expect: evidence: larger than 1048576 bytes of JSON
policy { org = "trust:TR00092", name = "hostile: evidence past the 1 MB limit" }
function on_pupil(p)
  local big = {}
  for i = 1, 2000 do big[i] = string.rep("x", 1000) end
  alert(p, "big", { evidence = big })
end
