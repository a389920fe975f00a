-- expect-load: alert() can only be called from on_pupil
policy { org = "trust:TR00092", name = "hostile: acts while loading" }
alert(nil, "x")
function on_pupil(p) end
