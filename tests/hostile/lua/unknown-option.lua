-- expect: alert: unknown key 'severty'
policy { org = "trust:TR00092", name = "hostile: a typo in an option" }
function on_pupil(p)
  alert(p, "low", { severty = "high" })
end
