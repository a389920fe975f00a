-- expect: message must be UTF-8 text without control characters
policy { org = "trust:TR00092", name = "hostile: terminal escapes in a message" }
function on_pupil(p)
  alert(p, "escape", { message = "\27]0;owned\7\27[2J" })
end
