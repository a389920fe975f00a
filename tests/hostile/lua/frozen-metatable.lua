-- expect: attempt to index a nil value (field '__index')
policy { org = "trust:TR00092", name = "hostile: writes behind a read-only table's back" }
local memo = {}
function on_pupil(p)
  getmetatable(memo).__index[p.upn] = true
  alert(p, "wrote")
end
