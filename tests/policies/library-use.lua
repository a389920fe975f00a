-- Ordinary use of the string, table and utf8 libraries, at sizes a policy
-- meets (a message of 2000 bytes, a year of sessions, a list of 1000): none
-- of it may be refused by the costs the sandbox charges for work done in C,
-- and every result is recorded so that the test can check the figures.
policy { org = "trust:TR00092", name = "ordinary library use" }

local national = require "national"

local function trim(s) return s:match("^%s*(.-)%s*$") end

function on_pupil(p)
  local year = p:window{ academic_year = true }
  local r = {}

  -- a message of about 2000 bytes, tidied and searched
  local words = {}
  for i = 1, 300 do words[#words + 1] = "word" .. i end
  local message = "  " .. table.concat(words, "  ") .. "  "
  r.trimmed = #trim(message)
  r.squeezed = #message:gsub("%s+", " ")
  local count = 0
  for _ in message:gmatch("%a+%d+") do count = count + 1 end
  r.words = count
  r.found = message:find("word150", 1, true)
  r.pattern = message:find("word%d%d%d")
  r.upper = #message:upper()

  -- dates and codes
  local y, m, d = today():match("^(%d%d%d%d)-(%d%d)-(%d%d)$")
  r.date = tonumber(y) * 10000 + tonumber(m) * 100 + tonumber(d)
  r.days = national.days_between("2024-09-01", today())
  r.code = p.last.code:find("[GNOU]") ~= nil

  -- a list of 1000 numbers, sorted and cut
  local list = {}
  for i = 1, 1000 do list[i] = (i * 7919) % 1000 end
  table.sort(list)
  r.sorted = list[1] == 0 and list[1000] == 999
  table.insert(list, 1, -1)
  table.remove(list, 1)
  local strings = {}
  for i = 1, 1000 do strings[i] = string.format("%04d", (i * 31) % 1000) end
  table.sort(strings)
  r.first = strings[1]
  r.most = math.max(table.unpack(list, 1, 200))
  local moved = table.move(list, 1, 1000, 1, {})
  r.moved = #moved

  -- characters
  r.line = string.rep("-", 80)
  r.bytes = select("#", ("attendance"):byte(1, -1))
  local n = 0
  for _, c in utf8.codes("Ysgol Gymraeg Bro Morgannwg – ŵ ŷ") do n = n + (c > 127 and 1 or 0) end
  r.wide = n
  r.possible = year.possible
  alert(p, "library_use", { severity = "low", data = r })
end
