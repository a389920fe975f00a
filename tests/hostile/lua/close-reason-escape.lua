-- expect: reason must be UTF-8 text without control characters
policy { org = "trust:TR00092", name = "hostile: terminal escapes in a close reason" }
function on_pupil(p)
  refer_mentor(p)
  close_case(p, "done\27[2K")
end
