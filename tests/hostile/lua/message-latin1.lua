-- expect: message must be UTF-8 text without control characters
policy { org = "trust:TR00092", name = "hostile: a message that is not UTF-8" }
function on_pupil(p)
  alert(p, "latin1", { message = "absence de l'\xe9l\xe8ve" })
end
