-- expect-load: param-default-out-of-bounds.lua:2: policy{}: params.alert_rate: default 1.5 is outside 0.5..1
policy { org = "trust:TR00092", name = "hostile: a default outside its bounds",
  params = { alert_rate = { default = 1.5, min = 0.5, max = 1, doc = "x" } } }
function on_pupil(p) end
