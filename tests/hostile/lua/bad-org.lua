-- expect-load: bad-org.lua:2: policy{}: org "trust:TR-1" must be la:NNN
policy { org = "trust:TR-1", name = "hostile: a malformed org" }
function on_pupil(p) end
