-- expect: module names are letters, digits and _
policy { org = "trust:TR00092", name = "hostile: require out of the scripts directory" }
function on_pupil(p)
  require "../../etc/passwd"
end
