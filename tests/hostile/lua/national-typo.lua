-- expect: attempt to call a nil value (field 'persistant')
-- check: national-typo.lua:6: national.persistant is not defined in
policy { org = "trust:TR00092", name = "hostile: a misspelt national function" }
local national = require "national"
function on_pupil(p)
  if national.persistant(p) then refer_mentor(p) end
end
