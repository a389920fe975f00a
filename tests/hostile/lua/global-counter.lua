-- expect: cannot set 'seen_count': globals, library and module tables are read-only once the policy has loaded
policy { org = "trust:TR00092", name = "hostile: keeps a count from pupil to pupil in a global" }
seen_count = 0
function on_pupil(p)
  seen_count = seen_count + 1
  alert(p, "counted", { data = { n = seen_count } })
end
