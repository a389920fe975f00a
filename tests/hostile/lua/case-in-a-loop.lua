-- expect: stopped: over the budget of
policy { org = "trust:TR00092", name = "hostile: reads the case a million times" }
-- Reading the case is work in C (a query, a table): charged to the budget.
function on_pupil(p)
  for i = 1, 100000000 do local c = p.case end
end
