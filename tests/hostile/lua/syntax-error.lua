-- expect-load: syntax-error.lua:5: 'end' expected (to close 'if' at line 4) near <eof>
policy { org = "trust:TR00092", name = "hostile: a syntax error" }
function on_pupil(p)
  if p.upn then alert(p, "x")
