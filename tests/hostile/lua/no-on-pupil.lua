-- expect-load: no-on-pupil.lua:2: the policy defines no function on_pupil(p)
policy { org = "trust:TR00092", name = "hostile: forgets on_pupil" }
function on_pupl(p) end
