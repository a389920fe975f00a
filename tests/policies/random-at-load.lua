-- Draws from math.random at the top level, while loading: every fresh load
-- of this file must draw the same number (the seed comes from its SHA-256).
policy { org = "trust:TR00092", name = "random at load" }

drawn = math.random(1, 1000000)

function on_pupil(p)
  alert(p, "drawn", { data = { drawn = drawn } })
end
