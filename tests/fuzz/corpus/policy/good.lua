-- A well-behaved policy that runs beside each hostile one: it must record
-- exactly one "seen" alert for every Salford pupil with marks, whatever the
-- other policy does.
policy { org = "la:355", name = "well-behaved" }

function on_pupil(p)
  local year = p:window{ academic_year = true }
  alert(p, "seen", { severity = "low", data = { possible = year.possible } })
end
