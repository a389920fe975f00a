-- expect: stopped: over the memory budget
policy { org = "trust:TR00092", name = "hostile: leaves its memory full for the next call" }
-- Fills the budget and keeps it, leaving less free than the engine needs
-- to make the next pupil: that must stop the call, not the process. Room
-- to keep things is made in the first call (tables made at load are
-- read-only), so the calls after it allocate nothing else.
local keep, n, calls
local big = string.rep("x", 1 << 16)
function on_pupil(p)
  if not keep then
    keep, n, calls = {}, 0, 0
    for i = 1, 20000 do keep[i] = false end
  end
  calls = calls + 1
  n = n + 1
  keep[n] = p -- no garbage: an emergency collection finds nothing to free
  if calls == 1 then
    while true do n = n + 1; keep[n] = big .. "y" end -- 64 KiB at a time
  end
  while true do n = n + 1; keep[n] = function() end end -- then 32 bytes at a time
end
