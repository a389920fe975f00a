-- expect: scripts/os.lua: No such file or directory
policy { org = "trust:TR00092", name = "hostile: require of a standard library" }
function on_pupil(p)
  local os = require "os"
  os.exit(1)
end
