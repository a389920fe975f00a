-- expect-load: declared-twice.lua:3: policy{} may be declared only once (first on line 2)
policy { org = "trust:TR00092", name = "one" }
policy { org = "trust:TR00093", name = "two" }
function on_pupil(p) end
