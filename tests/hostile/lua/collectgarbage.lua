-- expect: undefined global 'collectgarbage'
policy { org = "trust:TR00092", name = "hostile: collectgarbage" }
function on_pupil(p)
  collectgarbage("stop")
end
