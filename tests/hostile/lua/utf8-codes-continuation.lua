-- expect: stopped: utf8.codes would go over the budget of 10000000 instructions
policy { org = "trust:TR00092", name = "hostile: a megabyte of continuation bytes skipped at every step" }
function on_pupil(p)
  local s = "a" .. string.rep("\x80", 2^20)
  local step = utf8.codes(s)
  while true do step(s, 1) end
end
