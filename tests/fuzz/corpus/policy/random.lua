-- Draws from math.random: the same (policy, pupil, date) must draw the same
-- numbers on every run, and different pupils different ones.
policy { org = "trust:TR00092", name = "random draws" }

function on_pupil(p)
  alert(p, "dice", { data = { a = math.random(1, 1000000), b = math.random() } })
end
