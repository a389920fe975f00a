-- expect-load: unknown-endpoint-role.lua:2: policy{}: unknown endpoint role 'email'
policy { org = "trust:TR00092", name = "hostile: an unknown endpoint role", endpoints = { email = "x" } }
function on_pupil(p) end
