-- expect: stopped: over the memory budget of 67108864 bytes\nstack traceback:\n\ttests/hostile/lua/out-of-memory-in-pcall.lua:8:
policy { org = "trust:TR00092", name = "hostile: runs out of memory inside its own pcall" }
local hoard = {}
local function grow()
  local n = #hoard
  while true do
    n = n + 1
    hoard[n] = { n, n, n, n }
  end
end
function on_pupil(p)
  local ok, err = pcall(grow)
  alert(p, "swallowed", { message = tostring(err) })
end
