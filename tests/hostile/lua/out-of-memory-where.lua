-- expect: stopped: over the memory budget of 67108864 bytes\nstack traceback:\n\ttests/hostile/lua/out-of-memory-where.lua:8:
policy { org = "trust:TR00092", name = "hostile: runs out of memory on line 8" }
function on_pupil(p)
  local hoard = {} -- a fresh table each call: the tables it held are read-only
  local n = 0
  while true do
    n = n + 1
    hoard[n] = { n, n, n, n }
  end
end
