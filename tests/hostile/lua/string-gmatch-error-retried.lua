-- expect: stopped: string.gmatch would go over the budget of 10000000 instructions
policy { org = "trust:TR00092", name = "hostile: retries a gmatch iterator that fails after a long scan" }
function on_pupil(p)
  -- %1 with no capture fails only at the final x, after a megabyte of a's
  local step = (string.rep("a", 2^20) .. "x"):gmatch("x%1")
  while true do pcall(step) end
end
