-- expect: error-on-some-pupils.lua:6: no data for this pupil
policy { org = "trust:TR00092", name = "hostile: a runtime error on some pupils only" }
function on_pupil(p)
  -- J355400120001 and V846410120004 fail; Y355400120002 is fine
  if p.upn:sub(-1) ~= "2" then
    error("no data for this pupil")
  end
  alert(p, "seen_by_trust", { severity = "low" })
end
