-- expect: undefined global 'print'
policy { org = "trust:TR00092", name = "hostile: print left in from debugging" }
function on_pupil(p)
  print(p.upn, p:window{ academic_year = true }.rate)
end
